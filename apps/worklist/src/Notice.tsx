import { Paper, Text } from '@mantine/core';
import type { ReactNode } from 'react';

/**
 * A refusal or failure in plain words: a white box with a dark red border and title (Mantine's
 * light Alert puts red text on a tinted background below 4.5:1). Announced as an alert.
 */
export function Notice(props: { title: string; mt?: string; mb?: string; children: ReactNode }) {
  return (
    <Paper role="alert" withBorder p="sm" mt={props.mt} mb={props.mb} style={{ borderColor: 'var(--mantine-color-red-9)', borderWidth: 2 }}>
      <Text fw={700} c="red.9">
        ⚠ {props.title}
      </Text>
      <div>{props.children}</div>
    </Paper>
  );
}
