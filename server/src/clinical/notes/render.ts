import type { Composition, CompositionSection } from '@medplum/fhirtypes';
import { escapeHtml as esc } from '../../html-escape.ts';

/**
 * The human-readable rendering of a note (DocumentReference.content, text/html). Section
 * narratives are reduced to their text: a rendering must never carry markup, scripts or links
 * from a client's XHTML (R4 narrative rules forbid them, https://hl7.org/fhir/R4/narrative.html).
 */
export function renderNoteHtml(note: Composition, signedBy: string, signedAt: string): string {
  const sections = (note.section ?? []).map((s) => renderSection(s, 2)).join('\n');
  return [
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8"><title>' + esc(note.title ?? 'Progress note') + '</title></head><body>',
    `<h1>${esc(note.title ?? 'Progress note')}</h1>`,
    `<p>Patient: ${esc(note.subject?.display ?? note.subject?.reference ?? '')}<br>Date: ${esc(note.date ?? '')}<br>` +
      `Author: ${esc((note.author ?? []).map((a) => a.display ?? a.reference ?? '').join(', '))}</p>`,
    sections,
    `<p>Electronically signed by ${esc(signedBy)} at ${esc(signedAt)}.</p>`,
    '</body></html>',
  ].join('\n');
}

/**
 * One section as HTML: its title and the text of its narrative, escaped; never the client's markup.
 * Also used for the psychotherapy note (./psychotherapy.ts), which is client XHTML too.
 */
export function renderSection(s: CompositionSection, level: number): string {
  const h = Math.min(level, 6);
  const title = s.title ?? s.code?.text ?? s.code?.coding?.[0]?.display ?? '';
  const text = s.text?.div ? textOf(s.text.div) : '';
  const paragraphs = text.split(/\n+/).filter((p) => p.trim()).map((p) => `<p>${esc(p.trim())}</p>`).join('');
  return `<section><h${h}>${esc(title)}</h${h}>${paragraphs}${(s.section ?? []).map((c) => renderSection(c, level + 1)).join('')}</section>`;
}

/** The text of an XHTML fragment: block ends become line breaks, tags go, entities are decoded. */
function textOf(xhtml: string): string {
  return xhtml
    .replace(/<(br|\/p|\/div|\/li|\/h[1-6]|\/tr)\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&');
}
