import { Alert, Button, List, Stack, Text } from '@mantine/core';
import type { Problem } from '../../shared/problem.ts';

/** A problem in plain words; an ended session offers sign-in again (typed text stays on this device). */
export function ProblemAlert(props: { problem: Problem; onSignIn: () => void }) {
  const { problem } = props;
  const issues = problem.issues.filter((i) => i.message !== problem.message);
  const title = problem.kind === 'session' ? 'Your session has ended' : problem.kind === 'network' ? 'No connection' : 'Not saved';
  return (
    <Alert color="red" title={title} role="alert">
      <Stack gap="xs">
        <Text>{problem.kind === 'session' ? 'Your text is kept on this device. Sign in again to continue.' : problem.message}</Text>
        {issues.length > 0 && problem.kind !== 'session' && (
          <List size="sm">
            {issues.map((i, n) => (
              <List.Item key={n}>{i.message}</List.Item>
            ))}
          </List>
        )}
        {problem.kind === 'session' && (
          <div>
            <Button onClick={props.onSignIn}>Sign in again</Button>
          </div>
        )}
      </Stack>
    </Alert>
  );
}
