import { Text } from '@mantine/core';
import { PageTitle, Shell } from '../../shared/Shell.tsx';
import { useSmart } from '../../shared/mount.tsx';

export function App() {
  const { app, fhirUser } = useSmart();
  return (
    <Shell appName={app.name} user={fhirUser}>
      <PageTitle>Worklist</PageTitle>
      <Text>Signed in.</Text>
    </Shell>
  );
}
