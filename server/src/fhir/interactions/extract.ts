import { allOk } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { Parameters, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import { extractBundle, extractObservations } from '../../clinical/extract/index.ts';
import { calculate, withCalculated } from '../../clinical/scoring/calculate.ts';
import { resolveQuestionnaire } from '../../clinical/scoring/resolve.ts';
import { validateResponse } from '../../clinical/scoring/validate-response.ts';
import type { Repository } from '../../store/repository.ts';
import { fail } from '../../kernel/outcome.ts';

/**
 * QuestionnaireResponse/$extract (SDC, https://build.fhir.org/ig/HL7/sdc/OperationDefinition-QuestionnaireResponse-extract.html),
 * observation-based extraction only (https://build.fhir.org/ig/HL7/sdc/extraction.html#observation-based-extraction).
 * Type level: the response in the body, as the resource or as Parameters `questionnaire-response`.
 * Instance level (GET or POST): the stored response. The Questionnaire is resolved by canonical in
 * the tenant; the response is checked against it and calculated items (scores) are recomputed by
 * the server before extraction. Answers a transaction Bundle of Observations; stores nothing.
 */
export const extractOperation: FhirRouteHandler = async (req: FhirRequest, repo): Promise<FhirResponse> => {
  const r = repo as Repository;
  const id = req.params.id;
  let response: QuestionnaireResponse | undefined;
  if (id) {
    response = await r.readResource<QuestionnaireResponse>('QuestionnaireResponse', id);
  } else {
    const body = req.body as Resource | undefined;
    if (body?.resourceType === 'Parameters') {
      const part = (body as Parameters).parameter?.find((p) => p.name === 'questionnaire-response');
      response = part?.resource as QuestionnaireResponse | undefined;
      if (!response) fail('invalid', 'Parameters must carry the response in a `questionnaire-response` part', 'Parameters.parameter');
    } else if (body?.resourceType) {
      response = body as QuestionnaireResponse;
    }
  }
  if (!response) fail('invalid', 'Nothing to extract: send a QuestionnaireResponse, or Parameters with a `questionnaire-response` part');
  if (response.resourceType !== 'QuestionnaireResponse') {
    fail('invalid', `Expected a QuestionnaireResponse, got ${String(response.resourceType)}`, 'resourceType');
  }
  if (!response.questionnaire) fail('invalid', 'The response names no questionnaire: nothing says what to extract', 'QuestionnaireResponse.questionnaire');
  const questionnaire = await resolveQuestionnaire(r, response.questionnaire);
  validateResponse(questionnaire, response, { complete: false });
  const scored = withCalculated(questionnaire, response, calculate(questionnaire, response));
  return [allOk, extractBundle(extractObservations(questionnaire, scored))];
};
