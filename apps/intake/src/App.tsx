import './intake.css';
import { Alert, Text } from '@mantine/core';
import type { Patient, Questionnaire, QuestionnaireResponse } from '@medplum/fhirtypes';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Shell } from '../../shared/Shell.tsx';
import { useSmart } from '../../shared/mount.tsx';
import { personName, useReferenceName } from '../../shared/names.ts';
import { dropDraft, loadDraft } from './draft.ts';
import { fhirClient, relativeReference } from './fhir.ts';
import { QuestionnaireView } from './Form.tsx';
import { HomeView } from './Home.tsx';
import { ResultView } from './Result.tsx';
import { findQuestionnaire } from './data.ts';
import { type Answers, answersFrom } from './questionnaire.ts';

/**
 * Intake: a patient, a guardian, or a clinician on the patient's behalf fills the instruments
 * assigned to the patient. Screens: the list (Home), one questionnaire (Form), the result.
 */
type View =
  | { kind: 'home' }
  | { kind: 'form'; questionnaire: Questionnaire; taskId?: string; responseId?: string; answers: Answers; restored?: boolean }
  | { kind: 'result'; questionnaire: Questionnaire; response: QuestionnaireResponse & { id: string } };

export function App() {
  const { app, fetch, patientId, fhirUser, signInAgain } = useSmart();
  const fhir = useMemo(() => fhirClient(fetch), [fetch]);
  const person = relativeReference(fhirUser) ?? 'unknown';
  const role = person.startsWith('Patient/') ? 'patient' : person.startsWith('RelatedPerson/') ? 'guardian' : 'clinician';
  const userName = useReferenceName(relativeReference(fhirUser));
  const [patient, setPatient] = useState<Patient>();
  const [view, setView] = useState<View>({ kind: 'home' });

  useEffect(() => {
    if (!patientId) return;
    fhir.read<Patient>(`Patient/${patientId}`).then(setPatient, () => undefined);
    // Answers kept on this device while the session had ended: bring them back.
    const draft = loadDraft(person, patientId);
    if (draft) {
      findQuestionnaire(fhir, draft.questionnaire).then(
        (q) => {
          if (q) setView({ kind: 'form', questionnaire: q, taskId: draft.taskId, responseId: draft.responseId, answers: draft.answers, restored: true });
          else dropDraft(person, patientId);
        },
        () => undefined
      );
    }
  }, [fhir, patientId, person]);

  // A new screen: start at its top, and move keyboard and screen-reader focus there (not on first load).
  const firstView = useRef(true);
  useEffect(() => {
    if (firstView.current) {
      firstView.current = false;
      return;
    }
    window.scrollTo(0, 0);
    document.getElementById('main')?.focus();
  }, [view.kind]);

  const open = useCallback((questionnaire: Questionnaire, opts: { taskId?: string; draft?: QuestionnaireResponse }) => {
    setView({ kind: 'form', questionnaire, taskId: opts.taskId, responseId: opts.draft?.id, answers: answersFrom(opts.draft) });
  }, []);

  const patientLabel = patient ? `${personName(patient.name)}${patient.birthDate ? `, born ${patient.birthDate}` : ''}` : undefined;
  return (
    <Shell
      appName={app.name}
      user={userName}
      patient={role !== 'patient' && patientLabel ? <Text size="sm">Patient: {patientLabel}</Text> : undefined}
    >
      {!patientId ? (
        <Alert color="red" title="No patient chosen" role="alert">
          Open Intake again and choose the patient.
        </Alert>
      ) : view.kind === 'home' ? (
        <HomeView fhir={fhir} patientId={patientId} patientName={patient ? personName(patient.name) : undefined} role={role} open={open} />
      ) : view.kind === 'form' ? (
        <QuestionnaireView
          key={`${view.questionnaire.url}|${view.responseId ?? ''}`}
          fhir={fhir}
          questionnaire={view.questionnaire}
          patientId={patientId}
          person={person}
          responseId={view.responseId}
          taskId={view.taskId}
          initial={view.answers}
          restored={view.restored}
          signInAgain={signInAgain}
          onBack={() => setView({ kind: 'home' })}
          onSubmitted={(response) => setView({ kind: 'result', questionnaire: view.questionnaire, response })}
        />
      ) : (
        <ResultView fhir={fhir} questionnaire={view.questionnaire} response={view.response} forPatient={role === 'patient'} onDone={() => setView({ kind: 'home' })} />
      )}
    </Shell>
  );
}
