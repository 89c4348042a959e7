import { Alert, Box, Button, Loader, Text, Title } from '@mantine/core';
import type { Questionnaire, QuestionnaireResponse } from '@medplum/fhirtypes';
import { useEffect, useState } from 'react';
import { problemFrom } from '../../shared/problem.ts';
import { CrisisResources } from './Crisis.tsx';
import { type Crisis, type Score, crisisForResponse, scoreForResponse } from './data.ts';
import type { Fhir } from './fhir.ts';

/**
 * After submitting: the crisis resources first, the moment the server has them (they were
 * written in the scoring transaction, so they exist as soon as the response does), then the
 * server's score and band in plain words, announced in a live region.
 */
export function ResultView(props: { fhir: Fhir; questionnaire: Questionnaire; response: QuestionnaireResponse & { id: string }; onDone: () => void; forPatient: boolean }) {
  const { fhir, response } = props;
  const [crisis, setCrisis] = useState<Crisis>();
  const [score, setScore] = useState<Score | null>();
  const [problem, setProblem] = useState<string>();
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let live = true;
    crisisForResponse(fhir, response.id).then(
      (c) => live && setCrisis(c),
      () => undefined
    );
    scoreForResponse(fhir, response.id).then(
      (s) => live && setScore(s ?? null),
      (e: unknown) => {
        if (!live) return;
        const p = problemFrom(e);
        if (p.kind === 'forbidden') setScore(null);
        else {
          setProblem(p.message);
          if (p.kind === 'network') window.setTimeout(() => live && setAttempt((a) => a + 1), 3000);
        }
      }
    );
    return () => {
      live = false;
    };
  }, [fhir, response.id, attempt]);
  const title = props.questionnaire.title ?? 'questionnaire';
  return (
    <Box>
      <Title order={1} size="h2" mb="md">
        Thank you, your answers are sent
      </Title>
      {crisis && <CrisisResources crisis={crisis} focus />}
      <Box role="status" aria-live="polite" mb="lg">
        {score === undefined && !problem && (
          <Text>
            <Loader size="xs" mr="xs" aria-hidden />
            Getting your result…
          </Text>
        )}
        {score && (
          <Box p="md" style={{ border: '1px solid var(--mantine-color-gray-4)', borderRadius: 8 }}>
            <Title order={2} size="h3" mb={4}>
              Your result
            </Title>
            <Text size="lg">
              {props.forPatient ? 'Your' : 'The'} {title} score is <strong>{score.total}</strong>
              {score.band ? (
                <>
                  : <strong>{score.band}</strong>.
                </>
              ) : (
                '.'
              )}
            </Text>
            {props.forPatient && (
              <Text size="sm" c="dimmed" mt={4}>
                This score was worked out by the clinic's system from your answers. Your care team will go over it with you.
              </Text>
            )}
          </Box>
        )}
        {score === null && <Text>Your care team has your answers and will go over them with you.</Text>}
        {problem && (
          <Alert color="red" title="Could not load the result">
            {problem} Your answers are saved.
          </Alert>
        )}
      </Box>
      <Button onClick={props.onDone} size="md">
        Back to your list
      </Button>
    </Box>
  );
}
