import { Anchor, Box, Button, Group, Stack, Text, Title } from '@mantine/core';
import { useEffect, useRef } from 'react';
import type { Crisis } from './data.ts';

/**
 * The crisis resources the server sent the patient (the risk workflow's Communication), shown
 * the moment they exist: an alert named "Help now: crisis support" with the server's words and
 * one-tap ways to call or text. It never waits on a clinician.
 */
export function CrisisResources(props: { crisis: Crisis; focus?: boolean }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    if (props.focus) ref.current?.focus();
  }, [props.focus]);
  const lines = props.crisis.text.split('\n').filter((l) => l.trim());
  return (
    <Box
      component="section"
      ref={ref}
      role="alert"
      aria-labelledby="crisis-title"
      tabIndex={-1}
      p="md"
      mb="lg"
      style={{ border: '3px solid var(--mantine-color-red-9)', borderRadius: 8, background: 'var(--mantine-color-red-0)' }}
    >
      <Title order={2} size="h3" id="crisis-title" c="red.9" mb="xs">
        Help now: crisis support
      </Title>
      <Stack gap="xs">
        {lines.length ? (
          lines.map((l, i) => (
            <Text key={i} c="dark.9">
              {l}
            </Text>
          ))
        ) : (
          <Text c="dark.9">If you are in danger or thinking about harming yourself, call or text 988, or call your local emergency number now.</Text>
        )}
      </Stack>
      {props.crisis.contacts.length > 0 && (
        <Group mt="sm" gap="sm" wrap="wrap">
          {props.crisis.contacts.map((c) =>
            c.href.startsWith('https:') ? (
              <Anchor key={c.href} href={c.href} target="_blank" rel="noreferrer" fw={700} c="red.9">
                {c.label}
              </Anchor>
            ) : (
              <Button key={c.href} component="a" href={c.href} color="red.9" size="md">
                {c.label}
              </Button>
            )
          )}
        </Group>
      )}
    </Box>
  );
}
