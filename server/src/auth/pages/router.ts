import express from 'express';
import { authorizeRouter } from '../authorize/index.ts';
import { breakGlassRouter } from '../break-glass/index.ts';
import { ehrRouter } from '../launch/ehr-launcher.ts';
import { loginRouter } from '../session/login-routes.ts';
import type { AuthDeps } from '../index.ts';
import { STYLESHEET, STYLESHEET_PATH } from './layout.ts';

/**
 * Everything a browser touches at the authorization server: login and second factor, the
 * authorization endpoint with its picker and consent, the EHR launch API (and the old /auth/ehr
 * address, now a redirect to the launcher app), break-glass, and the static bits
 * (stylesheet, SMART style document).
 */
export function browserRouter(deps: AuthDeps): express.Router {
  const router = express.Router();
  router.get(STYLESHEET_PATH, (_req, res) => {
    res.set('Cache-Control', 'public, max-age=3600');
    res.type('text/css').send(STYLESHEET);
  });
  // SMART `smart_style_url`: "a URL where the app can retrieve styling information"; apps may
  // read it from any origin.
  router.get('/auth/smart-style.json', (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*');
    res.set('Cache-Control', 'public, max-age=3600');
    res.json({
      color_background: '#ffffff',
      color_error: '#a4001c',
      color_highlight: '#0b4f8a',
      color_modal_backdrop: '',
      color_success: '#1e6b34',
      color_text: '#1a1a1a',
      dim_border_radius: '4px',
      dim_font_size: '16px',
      dim_spacing_size: '16px',
      font_family_body: 'system-ui, sans-serif',
      font_family_heading: 'system-ui, sans-serif',
    });
  });
  router.use(loginRouter(deps));
  router.use(authorizeRouter(deps));
  router.use(ehrRouter(deps));
  router.use(breakGlassRouter(deps));
  return router;
}
