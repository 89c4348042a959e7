import apps from '../apps.json';
import type { AppDefinition } from './smart.ts';

/** The apps and their scopes (apps/apps.json; the demo clinic registers a client for each). */
export function appDefinition(id: string): AppDefinition {
  const a = (apps as AppDefinition[]).find((x) => x.id === id);
  if (!a) throw new Error(`unknown app ${id}`);
  return a;
}
