import { type FhirRouteHandler, FhirRouter, type HttpMethod, type RestInteraction } from '@medplum/fhir-router';
import { batchOrTransaction } from './interactions/batch.ts';
import { compositionCountersign, compositionSign } from './interactions/composition-sign.ts';
import { patientDisclosures } from './interactions/disclosures.ts';
import { patientEverything } from './interactions/everything.ts';
import { extractOperation } from './interactions/extract.ts';
import { mbcCohort } from './interactions/mbc-cohort.ts';
import { mbcSummary } from './interactions/mbc-summary.ts';
import { historyInstance, historySystem, historyType } from './interactions/history.ts';
import { searchSystem, searchType } from './interactions/search.ts';
import { subscriptionEvents } from './interactions/subscription-events.ts';
import { subscriptionStatus } from './interactions/subscription-status.ts';
import { getWsBindingToken } from './interactions/subscription-ws.ts';
import { update } from './interactions/update.ts';
import { validateOperation } from './interactions/validate.ts';
import { conditionalDelete } from './interactions/conditional-delete.ts';
import { guardRoute } from './route-guard.ts';

/**
 * The FHIR REST routes as data: @medplum/fhir-router supplies read, vread, create, update, patch,
 * delete and their conditional forms over our repository; the rows below replace or add the
 * interactions we implement ourselves (search in SQL with raw parameters, history with _since and
 * cursors, transactions with conditional references, operations).
 */
const ROUTES: [HttpMethod, string, FhirRouteHandler, RestInteraction][] = [
  ['GET', '', searchSystem, 'search-system'],
  ['POST', '', batchOrTransaction, 'batch'],
  ['GET', ':resourceType', searchType, 'search-type'],
  ['POST', ':resourceType/_search', searchType, 'search-type'],
  ['PUT', ':resourceType/:id', update, 'update'],
  ['DELETE', ':resourceType', conditionalDelete, 'delete'],
  ['GET', ':resourceType/:id/_history', historyInstance, 'history-instance'],
  ['GET', ':resourceType/_history', historyType, 'history-type'],
  ['GET', '_history', historySystem, 'history-system'],
  ['POST', ':resourceType/$validate', validateOperation, 'operation'],
  ['POST', ':resourceType/:id/$validate', validateOperation, 'operation'],
  ['GET', ':resourceType/:id/$validate', validateOperation, 'operation'],
  ['GET', 'Patient/:id/$everything', patientEverything, 'operation'],
  ['POST', 'Patient/:id/$everything', patientEverything, 'operation'],
  ['GET', 'Patient/:id/$disclosures', patientDisclosures, 'operation'],
  ['POST', 'Patient/:id/$disclosures', patientDisclosures, 'operation'],
  ['POST', 'QuestionnaireResponse/$extract', extractOperation, 'operation'],
  ['POST', 'QuestionnaireResponse/:id/$extract', extractOperation, 'operation'],
  ['GET', 'QuestionnaireResponse/:id/$extract', extractOperation, 'operation'],
  ['POST', 'Composition/:id/$sign', compositionSign, 'operation'],
  ['POST', 'Composition/:id/$countersign', compositionCountersign, 'operation'],
  ['GET', 'Patient/:id/$mbc-summary', mbcSummary, 'operation'],
  ['POST', 'Patient/:id/$mbc-summary', mbcSummary, 'operation'],
  ['GET', '$mbc-cohort', mbcCohort, 'operation'],
  ['POST', '$mbc-cohort', mbcCohort, 'operation'],
  // Subscriptions Backport IG 1.1 operations (subscriptions/README.md).
  ['GET', 'Subscription/$status', subscriptionStatus, 'operation'],
  ['POST', 'Subscription/$status', subscriptionStatus, 'operation'],
  ['GET', 'Subscription/:id/$status', subscriptionStatus, 'operation'],
  ['POST', 'Subscription/:id/$status', subscriptionStatus, 'operation'],
  ['GET', 'Subscription/:id/$events', subscriptionEvents, 'operation'],
  ['POST', 'Subscription/:id/$events', subscriptionEvents, 'operation'],
  ['GET', 'Subscription/$get-ws-binding-token', getWsBindingToken, 'operation'],
  ['POST', 'Subscription/$get-ws-binding-token', getWsBindingToken, 'operation'],
  ['GET', 'Subscription/:id/$get-ws-binding-token', getWsBindingToken, 'operation'],
  ['POST', 'Subscription/:id/$get-ws-binding-token', getWsBindingToken, 'operation'],
];

export function createFhirRouter(): FhirRouter {
  const router = new FhirRouter();
  const routes = router.router.routes;
  // GraphQL is not offered yet: drop it so it is neither reachable nor advertised.
  const gql = routes.findIndex((r) => r.path.length === 1 && r.path[0].value === '$graphql');
  if (gql >= 0) routes.splice(gql, 1);
  for (const [method, path, handler, interaction] of ROUTES) {
    const segments = path.split('/').filter(Boolean);
    const existing = routes.find(
      (r) =>
        r.method === method &&
        r.path.length === segments.length &&
        r.path.every((s, i) => (s.param ? ':' + s.value : s.value) === segments[i])
    );
    if (existing) {
      existing.handler = handler;
      existing.data = { interaction };
    } else {
      router.add(method, path, handler, interaction);
    }
  }
  // Every handler, ours and @medplum/fhir-router's, behind the same checks and error rule.
  for (const route of routes) {
    const typeLevel = route.path.length === 1 && Boolean(route.path[0].param);
    route.handler = guardRoute(route.handler, route.data?.interaction, typeLevel);
  }
  return router;
}
