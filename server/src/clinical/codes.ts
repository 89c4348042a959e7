/**
 * Identifiers and codes shared by the clinical modules (instruments, scoring, care plans, notes,
 * outcomes). Published code systems are used wherever one exists; the platform's own canonical
 * base names only what no published system covers (severity bands as text, programs).
 */

/** Canonical base of the platform's own conformance resources (Questionnaires, profiles, CodeSystems). */
export const CANONICAL_BASE = 'http://bh-fhir.org/fhir';
export const profileUrl = (name: string): string => `${CANONICAL_BASE}/StructureDefinition/${name}`;
export const questionnaireUrl = (name: string): string => `${CANONICAL_BASE}/Questionnaire/${name}`;

export const LOINC = 'http://loinc.org';
export const SNOMED = 'http://snomed.info/sct';
export const UCUM = 'http://unitsofmeasure.org';
/** http://terminology.hl7.org/CodeSystem/observation-category — "survey" for instrument results. */
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
/** SDC: answerOption / initial ordinal value (R4 core extension, formerly iso21090-CO-value). */
export const ORDINAL_VALUE = 'http://hl7.org/fhir/StructureDefinition/ordinalValue';

/** The platform's program codes for CarePlan.category (a depression program, an anxiety program ...). */
export const PROGRAM_SYSTEM = `${CANONICAL_BASE}/CodeSystem/program`;
/** Severity bands of an instrument total (Observation.interpretation); codes are per instrument, e.g. "moderate". */
export const SEVERITY_SYSTEM = `${CANONICAL_BASE}/CodeSystem/severity-band`;

/**
 * Contract between scoring, goals and outcomes: the scored TOTAL of an instrument is an
 * Observation with
 *   meta.profile      [profileUrl('assessment-score')]
 *   status            final (amended when a response is amended; entered-in-error when superseded)
 *   category          OBSERVATION_CATEGORY#survey
 *   code              LOINC total code (e.g. 44261-6 for PHQ-9)
 *   subject           the patient; encounter, basedOn (CarePlan) copied from the response
 *   effectiveDateTime QuestionnaireResponse.authored
 *   valueQuantity     { value: total, unit: '{score}', system: UCUM, code: '{score}' }
 *   interpretation    [{ coding: [{ system: SEVERITY_SYSTEM, code: band }], text }]
 *   derivedFrom       [QuestionnaireResponse/<id>]
 * Outcomes count Observations whose status is final, amended or corrected.
 *
 * A scheduled assessment is a CarePlan.activity.detail with code = the instrument's LOINC panel
 * code, instantiatesCanonical = the Questionnaire canonical, status scheduled | in-progress, and
 * scheduledTiming.repeat { frequency, period, periodUnit } (e.g. every 2 weeks).
 */
export const SCORE_UNIT = { unit: '{score}', system: UCUM, code: '{score}' } as const;

/**
 * Instrument-local codes (added by the instruments work): items, answers and panels for which no
 * LOINC code exists or none could be verified (PHQ-A items, PCL-5 items and answers, ASQ). Never a
 * stand-in for a LOINC code that exists; questionnaires/README.md lists which codes are local.
 */
export const INSTRUMENT_ITEM_SYSTEM = `${CANONICAL_BASE}/CodeSystem/instrument-item`;

/**
 * Risk flags on derived Observations: the same coding in Observation.interpretation (meaning) and
 * in meta.tag (R4 has no `interpretation` search parameter; `_tag` is searchable everywhere), so a
 * later risk workflow finds positive screens with one search:
 * `Observation?_tag=http://bh-fhir.org/fhir/CodeSystem/risk-flag|suicide-risk`.
 *   suicide-risk  PHQ-9 item 9 > 0 (item and total Observations), PHQ-A item 9 > 0 or a "yes" to its
 *                 past-month serious thoughts / lifetime attempt questions, ASQ positive (either kind)
 *   acute         in addition on an ASQ acute positive screen (question 5 "yes")
 */
export const RISK_FLAG_SYSTEM = `${CANONICAL_BASE}/CodeSystem/risk-flag`;

/** SDC extensions the instruments and $extract use (https://hl7.org/fhir/uv/sdc/). */
export const SDC_OBSERVATION_EXTRACT = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observationExtract';
export const SDC_OBSERVATION_EXTRACT_CATEGORY = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observation-extract-category';
export const SDC_CALCULATED_EXPRESSION = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression';
export const QUESTIONNAIRE_UNIT = 'http://hl7.org/fhir/StructureDefinition/questionnaire-unit';

/**
 * Crisis-risk workflow (clinical/risk/README.md). The risk Task's code; its input type for the
 * screen (a QuestionnaireResponse) that raised or joined it.
 */
export const RISK_TASK_SYSTEM = `${CANONICAL_BASE}/CodeSystem/risk-task`;
export const RISK_TASK_CODE = 'suicide-risk-follow-up';
/** The tenant's rule set: PlanDefinition/risk-rules, one action per rule (rule id = action.id). */
export const RISK_RULES_URL = `${CANONICAL_BASE}/PlanDefinition/risk-rules`;
export const RISK_RULES_ID = 'risk-rules';
/** Rule ids as codes (Task.reasonCode, Task.input.type): the action ids of PlanDefinition/risk-rules. */
export const RISK_RULE_SYSTEM = `${CANONICAL_BASE}/CodeSystem/risk-rule`;
/** How a risk Task was closed (Task.output.type): contact-made-safety-plan, referred-988, referred-emergency, unable-to-reach. */
export const RISK_OUTCOME_SYSTEM = `${CANONICAL_BASE}/CodeSystem/risk-outcome`;
/** The rota (PractitionerRole.code): on-call, on-call-backup, supervisor, clinic-lead. */
export const ON_CALL_ROLE_SYSTEM = `${CANONICAL_BASE}/CodeSystem/on-call-role`;
/** Escalation steps (Task.businessStatus): assigned, backup-on-call, supervisor, clinic-lead. */
export const RISK_ESCALATION_SYSTEM = `${CANONICAL_BASE}/CodeSystem/risk-escalation`;
/** Crisis resources (HealthcareService.category): crisis-line, emergency. */
export const CRISIS_RESOURCE_SYSTEM = `${CANONICAL_BASE}/CodeSystem/crisis-resource`;
/** Communication.category: crisis-resources (to the patient), risk-task-assigned, risk-escalation (to staff). */
export const COMMUNICATION_CATEGORY_SYSTEM = `${CANONICAL_BASE}/CodeSystem/communication-category`;
/** http://terminology.hl7.org/CodeSystem/flag-category — "safety" for the risk Flag. */
export const FLAG_CATEGORY = 'http://terminology.hl7.org/CodeSystem/flag-category';
/** R4 core extension: an IANA time zone (valueCode), here on a rota PractitionerRole. */
export const TIMEZONE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/timezone';
