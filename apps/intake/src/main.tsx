import { appDefinition } from '../../shared/apps.ts';
import { mountApp } from '../../shared/mount.tsx';
import { App } from './App.tsx';

mountApp(appDefinition('intake'), () => <App />);
