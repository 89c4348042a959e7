import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import '@medplum/react/styles.css';
import './app.css';
import { Alert, Button, Center, Loader, MantineProvider, Stack, Text } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import type { MedplumClient } from '@medplum/core';
import { MedplumProvider } from '@medplum/react';
import { type ReactNode, createContext, useContext, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { MemoryRouter } from 'react-router';
import { medplumFor } from './medplum.ts';
import { problemFrom } from './problem.ts';
import { type AppDefinition, type SmartClient, connect, ehrLaunch, smartFetch, standaloneLaunch } from './smart.ts';
import { cssVariablesResolver, theme } from './theme.ts';

/** What every app screen can use: the SMART client, Medplum's client and the launch context. */
export interface SmartContext {
  app: AppDefinition;
  smart: SmartClient;
  medplum: MedplumClient;
  /** fetch with the token (refresh and SessionExpired handled), for operations Medplum lacks. */
  fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  /** Launch context: patient and encounter ids when the launch carried them. */
  patientId?: string;
  encounterId?: string;
  /** `Practitioner/123`, `Patient/456`, `RelatedPerson/789`. */
  fhirUser?: string;
  /** Start sign-in again (after saving any draft). */
  signInAgain: () => void;
}

const Ctx = createContext<SmartContext | undefined>(undefined);

export function useSmart(): SmartContext {
  const c = useContext(Ctx);
  if (!c) throw new Error('useSmart outside an app');
  return c;
}

function Providers(props: { children: ReactNode }) {
  return (
    <MantineProvider theme={theme} cssVariablesResolver={cssVariablesResolver}>
      <Notifications />
      {props.children}
    </MantineProvider>
  );
}

function Connecting(props: { app: AppDefinition; render: () => ReactNode }) {
  const [ctx, setCtx] = useState<SmartContext>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    document.title = props.app.name;
    const signInAgain = () => void standaloneLaunch(props.app);
    connect(props.app).then(
      (smart) => {
        const medplum = medplumFor(props.app.id, smart, signInAgain);
        setCtx({
          app: props.app,
          smart,
          medplum,
          fetch: smartFetch(smart),
          patientId: smart.patient.id ?? undefined,
          encounterId: smart.encounter.id ?? undefined,
          fhirUser: smart.user.fhirUser ?? undefined,
          signInAgain,
        });
      },
      (e: unknown) => setError(problemFrom(e).kind === 'network' ? problemFrom(e).message : 'Sign-in did not complete.')
    );
  }, [props.app]);
  if (error) {
    return (
      <Center p="xl" component="main">
        <Stack maw={420}>
          <Alert color="red" title="Could not sign in" role="alert">
            {error}
          </Alert>
          <Button onClick={() => void standaloneLaunch(props.app)}>Sign in again</Button>
        </Stack>
      </Center>
    );
  }
  if (!ctx) {
    return (
      <Center p="xl" component="main" aria-busy="true">
        <Stack align="center">
          <Loader aria-hidden />
          <Text>Signing in…</Text>
        </Stack>
      </Center>
    );
  }
  return (
    <Ctx.Provider value={ctx}>
      <MedplumProvider medplum={ctx.medplum}>
        <MemoryRouter>{props.render()}</MemoryRouter>
      </MedplumProvider>
    </Ctx.Provider>
  );
}

/** index.html of an app: connect (redirect, resume or standalone launch), then render the app. */
export function mountApp(app: AppDefinition, render: () => ReactNode): void {
  createRoot(document.getElementById('root')!).render(
    <Providers>
      <Connecting app={app} render={render} />
    </Providers>
  );
}

/** launch.html of an app: EHR launch with the `iss` and `launch` the EHR gave us. */
export function mountLaunch(app: AppDefinition): void {
  ehrLaunch(app).catch(() => {
    document.getElementById('root')!.textContent = 'This launch link is not valid. Open the app again from the EHR.';
  });
}
