import '@mantine/charts/styles.css';
import { appDefinition } from '../../shared/apps.ts';
import { mountApp } from '../../shared/mount.tsx';
import { App } from './App.tsx';

mountApp(appDefinition('notes'), () => <App />);
