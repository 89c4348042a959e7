import { type Html, html } from './html.ts';
import { csrfField, described, errorBlock } from './layout.ts';

/**
 * Page bodies of the authorization server. Each form carries its CSRF token; each input has a
 * <label for>; an error is announced (role=alert) and described-by on the inputs it concerns.
 */
export interface PatientChoice {
  id: string;
  name: string;
  birthDate: string | undefined;
}

const requestField = (request: string | undefined): Html => (request ? html`<input type="hidden" name="request" value="${request}">` : html``);

export function loginBody(o: { csrf: string; request?: string; tenant?: string; appName?: string; username?: string; error?: string }): Html {
  return html`<h1>Sign in</h1>
${o.appName ? html`<p>Sign in to continue to <strong>${o.appName}</strong>.</p>` : ''}
${errorBlock(o.error)}
<form method="post" action="/auth/login">
${csrfField(o.csrf)}${requestField(o.request)}
${o.request ? '' : html`<label for="tenant">Clinic</label>
<input type="text" id="tenant" name="tenant" value="${o.tenant ?? ''}" required autocomplete="organization"${described(o.error)}>`}
<label for="username">Username</label>
<input type="text" id="username" name="username" value="${o.username ?? ''}" required autocomplete="username" autocapitalize="none"${described(o.error)}>
<label for="password">Password</label>
<input type="password" id="password" name="password" required autocomplete="current-password"${described(o.error)}>
<button type="submit">Sign in</button>
</form>`;
}

export function secondFactorBody(o: { csrf: string; request?: string; error?: string }): Html {
  return html`<h1>Enter your verification code</h1>
<p>Open your authenticator app and enter the 6-digit code it shows for this clinic.</p>
${errorBlock(o.error)}
<form method="post" action="/auth/second-factor">
${csrfField(o.csrf)}${requestField(o.request)}
<label for="code">Verification code</label>
<input type="text" id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" required autocomplete="one-time-code"${described(o.error)}>
<button type="submit">Verify</button>
</form>
<p><a href="/auth/recovery${o.request ? `?request=${encodeURIComponent(o.request)}` : ''}">Use a recovery code instead</a></p>`;
}

export function recoveryBody(o: { csrf: string; request?: string; error?: string }): Html {
  return html`<h1>Use a recovery code</h1>
<p>Each recovery code works once.</p>
${errorBlock(o.error)}
<form method="post" action="/auth/recovery">
${csrfField(o.csrf)}${requestField(o.request)}
<label for="code">Recovery code</label>
<input type="text" id="code" name="code" required autocomplete="off" autocapitalize="characters"${described(o.error)}>
<button type="submit">Verify</button>
</form>`;
}

export function enrolBody(o: { csrf: string; request?: string; secret: string; uri: string; error?: string }): Html {
  return html`<h1>Set up your authenticator</h1>
<p>Staff accounts need a second factor. Add this account to an authenticator app (RFC 6238 TOTP), by opening the link on your phone or typing the key.</p>
<p>Key: <code data-totp-secret>${o.secret}</code></p>
<p><a href="${o.uri}">Open in authenticator app</a></p>
${errorBlock(o.error)}
<form method="post" action="/auth/totp/enrol">
${csrfField(o.csrf)}${requestField(o.request)}
<label for="code">Code shown by the app</label>
<input type="text" id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" required autocomplete="one-time-code"${described(o.error)}>
<button type="submit">Confirm</button>
</form>`;
}

export function recoveryCodesBody(o: { csrf: string; request?: string; codes: string[] }): Html {
  return html`<h1>Save your recovery codes</h1>
<p>If you lose your authenticator, each of these codes lets you sign in once. They are shown only now: store them somewhere safe.</p>
<ul class="codes">${o.codes.map((c) => html`<li>${c}</li>`)}</ul>
<form method="post" action="/auth/continue">
${csrfField(o.csrf)}${requestField(o.request)}
<button type="submit">I have saved them, continue</button>
</form>`;
}

export function consentBody(o: { csrf: string; request: string; appName: string; scopes: string[]; patientName?: string }): Html {
  return html`<h1>Allow ${o.appName} access?</h1>
<p><strong>${o.appName}</strong> asks to:</p>
<ul>${o.scopes.map((s) => html`<li>${s}</li>`)}</ul>
${o.patientName ? html`<p>For patient: <strong>${o.patientName}</strong></p>` : ''}
<form method="post" action="/auth/authorize/consent">
${csrfField(o.csrf)}${requestField(o.request)}
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`;
}

export function pickPatientBody(o: {
  csrf: string;
  request: string;
  appName: string;
  patients: PatientChoice[];
  query?: string;
  canSearch: boolean;
  /** More patients match than are listed: a narrower search shows them. */
  more?: boolean;
  /** Why the search was refused (shown beside the search box). */
  problem?: string;
  error?: string;
}): Html {
  return html`<h1>Choose a patient</h1>
<p><strong>${o.appName}</strong> will open for the patient you choose.</p>
${errorBlock(o.error)}
<form method="post" action="/auth/authorize/pick">
${csrfField(o.csrf)}${requestField(o.request)}
<fieldset><legend>Patients</legend>
${o.patients.length === 0 ? html`<p>No patients found.</p>` : ''}
<ul class="choices">${o.patients.map(
    (p, i) =>
      html`<li><input type="radio" id="patient-${i}" name="patient" value="${p.id}" required${described(o.error)}> <label for="patient-${i}">${p.name}${p.birthDate ? html`, born ${p.birthDate}` : ''}</label></li>`
  )}</ul>
${o.more ? html`<p data-more>More patients match than are shown: search by name or birth date to find others.</p>` : ''}
</fieldset>
<button type="submit">Continue</button>
</form>
${o.canSearch ? html`<form method="get" action="/auth/authorize/pick" role="search">
${requestField(o.request)}
<label for="q">Search patients by name or birth date (YYYY-MM-DD)</label>
<input type="search" id="q" name="q" value="${o.query ?? ''}"${o.problem ? html` aria-invalid="true" aria-describedby="q-problem"` : ''}>
${o.problem ? html`<p id="q-problem" class="error" role="alert">${o.problem}</p>` : ''}
<button type="submit" class="secondary">Search</button>
</form>` : ''}`;
}

export function messageBody(o: { title: string; message: string; alert?: boolean }): Html {
  return html`<h1>${o.title}</h1>
${o.alert ? errorBlock(o.message) : html`<p>${o.message}</p>`}`;
}

export function homeBody(o: { csrf: string; name: string; isPractitioner: boolean; canBreakGlass?: boolean }): Html {
  return html`<h1>Signed in</h1>
<p>You are signed in as ${o.name}.</p>
${o.isPractitioner ? html`<p><a href="/apps/launcher/">Launch an app for a patient (EHR launcher)</a></p>` : ''}
${o.canBreakGlass ? html`<p><a href="/auth/break-glass">Emergency access (break-glass)</a></p>` : ''}
<form method="post" action="/auth/logout">
${csrfField(o.csrf)}
<button type="submit">Sign out</button>
</form>`;
}
