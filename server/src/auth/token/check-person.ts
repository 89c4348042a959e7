import type { Queryable } from '../../db/database.ts';
import { isSessionActive } from '../session/index.ts';
import { findUserById } from '../users/index.ts';

/**
 * Whether the person behind a grant may still get tokens: the user account exists and is not
 * disabled and, for online_access, the login session the grant came from is still active (SMART
 * scopes-and-launch-context: online_access lasts "only as long as the end-user remains online").
 */
export async function userIsActive(db: Queryable, userId: string): Promise<boolean> {
  const user = await findUserById(db, userId);
  return Boolean(user && !user.disabled);
}

export async function sessionIsActive(db: Queryable, sessionId: string | null | undefined): Promise<boolean> {
  return Boolean(sessionId) && isSessionActive(db, sessionId as string);
}
