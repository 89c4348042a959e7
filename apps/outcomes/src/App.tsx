import { Anchor, Group } from '@mantine/core';
import type { ReactNode } from 'react';
import { Link, Navigate, Route, Routes, useLocation, useParams } from 'react-router';
import { Shell } from '../../shared/Shell.tsx';
import { useSmart } from '../../shared/mount.tsx';
import { useReferenceName } from '../../shared/names.ts';
import { CohortDashboard } from './CohortDashboard.tsx';
import { PatientBanner } from './PatientBanner.tsx';
import { PatientOutcomes } from './PatientOutcomes.tsx';
import { PatientPicker } from './PatientPicker.tsx';

/**
 * Outcomes: one patient's PHQ-9 / GAD-7 trends (from `$mbc-summary`) and the clinic's cohort
 * (from `$mbc-cohort`). Launched from the EHR, it opens on the launch patient; launched
 * standalone, it opens on a picker of the patients the clinician may see.
 */
export function App() {
  const { patientId } = useSmart();
  return (
    <Routes>
      <Route path="/" element={patientId ? <Navigate to={`/patient/${patientId}`} replace /> : <Frame><PatientPicker /></Frame>} />
      <Route path="/patient/:id" element={<PatientScreen />} />
      <Route path="/cohort" element={<Frame><CohortDashboard /></Frame>} />
      <Route path="*" element={<Navigate to="/" replace />} />
    </Routes>
  );
}

function PatientScreen() {
  const { id = '' } = useParams();
  return (
    <Frame patient={<PatientBanner patientId={id} />}>
      <PatientOutcomes key={id} patientId={id} />
    </Frame>
  );
}

/** The app frame with its navigation: the patient (or the picker, standalone) and the cohort. */
function Frame(props: { patient?: ReactNode; children: ReactNode }) {
  const { app, fhirUser, patientId } = useSmart();
  const user = useReferenceName(fhirUser);
  const { pathname } = useLocation();
  const links: [string, string][] = patientId
    ? [[`/patient/${patientId}`, 'Patient outcomes'], ['/cohort', 'Cohort']]
    : [['/', 'Patients'], ['/cohort', 'Cohort']];
  const current = (to: string) => (to === '/' ? pathname === '/' || pathname.startsWith('/patient/') : pathname === to);
  return (
    <Shell
      appName={app.name}
      user={user ?? fhirUser}
      patient={props.patient}
      actions={
        <Group component="nav" aria-label="Outcomes" gap="md">
          {links.map(([to, label]) => (
            <Anchor key={to} component={Link} to={to} aria-current={current(to) ? 'page' : undefined} fw={current(to) ? 700 : 400} underline={current(to) ? 'always' : 'hover'}>
              {label}
            </Anchor>
          ))}
        </Group>
      }
    >
      {props.children}
    </Shell>
  );
}
