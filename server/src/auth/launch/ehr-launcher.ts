import express from 'express';
import type { AuthDeps } from '../index.ts';
import { ehrLaunchApi } from './ehr-launch-api.ts';

/**
 * The EHR launcher. The EHR simulator is the launcher app (apps/launcher, served at
 * /apps/launcher/): it signs the practitioner in through SMART standalone launch, searches
 * patients with the practitioner's own token (access layer and audit apply) and asks the launch
 * API (./ehr-launch-api.ts) for a launch. The server-rendered page that used to live at
 * /auth/ehr listed the whole clinic unaudited; its route stays only so old bookmarks and links
 * arrive at the launcher.
 */
export const LAUNCHER_PATH = '/apps/launcher/';

export function ehrRouter(deps: AuthDeps): express.Router {
  const router = express.Router();
  router.all('/auth/ehr', (_req, res) => {
    res.redirect(303, LAUNCHER_PATH);
  });
  router.use(ehrLaunchApi(deps));
  return router;
}
