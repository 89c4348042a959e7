import { appDefinition } from '../../shared/apps.ts';
import { mountApp } from '../../shared/mount.tsx';
import { App } from './App.tsx';

// Standalone only: the launcher is the EHR; it is never launched by one (no launch.html).
mountApp(appDefinition('launcher'), () => <App />);
