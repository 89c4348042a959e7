import { appDefinition } from '../../shared/apps.ts';
import { ehrLaunch } from '../../shared/smart.ts';

ehrLaunch(appDefinition('intake')).catch(() => {
  document.getElementById('root')!.textContent = 'This launch link is not valid. Open the app again from the EHR.';
});
