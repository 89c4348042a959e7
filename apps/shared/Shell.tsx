import { Anchor, Box, Group, Text, Title } from '@mantine/core';
import type { ReactNode } from 'react';

/**
 * The frame of every app screen: a skip link, a header with the app and the signed-in person,
 * an optional patient banner (SMART `need_patient_banner`), and one `main` landmark.
 */
export function Shell(props: { appName: string; user?: string; patient?: ReactNode; actions?: ReactNode; children: ReactNode }) {
  return (
    <>
      <Anchor href="#main" className="bh-skip-link">
        Skip to content
      </Anchor>
      <Box component="header" px="md" py="xs" style={{ borderBottom: '1px solid var(--mantine-color-gray-4)' }}>
        <Group justify="space-between" wrap="wrap" gap="xs">
          <Text fw={700} size="lg" component="p">
            {props.appName}
          </Text>
          <Group gap="sm" wrap="wrap">
            {props.user && (
              <Text size="sm" c="dimmed" component="p">
                Signed in as {props.user}
              </Text>
            )}
            {props.actions}
          </Group>
        </Group>
        {props.patient && (
          <Box mt={4} aria-label="Patient" component="section">
            {props.patient}
          </Box>
        )}
      </Box>
      <Box component="main" id="main" tabIndex={-1} p="md" maw={1100} mx="auto">
        {props.children}
      </Box>
    </>
  );
}

export function PageTitle(props: { children: ReactNode }) {
  return (
    <Title order={1} size="h2" mb="md">
      {props.children}
    </Title>
  );
}
