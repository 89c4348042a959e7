import { type Html, html } from '../pages/html.ts';
import { csrfField, described, errorBlock } from '../pages/layout.ts';

/** The break-glass form: what it opens, who is told, and the reason (required). */
export function breakGlassBody(o: { csrf: string; minutes: number; until?: Date; reason?: string; error?: string }): Html {
  return html`<h1>Emergency access (break-glass)</h1>
${o.until ? html`<p data-break-glass-until="${o.until.toISOString()}">Emergency access is on until <strong>${o.until.toISOString()}</strong>.</p>` : ''}
<p>In a medical emergency you may open the records of every patient of the clinic, restricted records included (substance-use treatment under 42 CFR Part 2, records marked restricted), for ${String(o.minutes)} minutes. Other clinicians' psychotherapy notes stay closed.</p>
<p>Your supervisors are told at once, and the reason you give is kept in the audit trail with every record you open.</p>
${errorBlock(o.error)}
<form method="post" action="/auth/break-glass">
${csrfField(o.csrf)}
<label for="reason">Reason for emergency access</label>
<textarea id="reason" name="reason" rows="4" required minlength="10" maxlength="1000"${described(o.error)}>${o.reason ?? ''}</textarea>
<button type="submit">Start emergency access</button>
</form>
<p><a href="/auth/">Back</a></p>`;
}

export function breakGlassStartedBody(o: { until: Date; notified: number }): Html {
  return html`<h1>Emergency access is on</h1>
<p data-break-glass-until="${o.until.toISOString()}">Until <strong>${o.until.toISOString()}</strong> your apps see every patient of the clinic, restricted records included. Reload an app that is already open.</p>
<p>${o.notified === 1 ? 'One supervisor was' : `${String(o.notified)} supervisors were`} told.</p>
<p><a href="/apps/launcher/">Open the EHR launcher</a></p>`;
}
