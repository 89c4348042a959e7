/**
 * The 42 CFR §2.32(a)(1) redisclosure notice (issue 13 item 4), under the name the shared
 * contract gives it. Defined in access/notice.ts: subscription delivery attaches it too, and
 * subscriptions/ may import access/ but not clinical/ (server/src/layers.test.ts).
 */
export { REDISCLOSURE_NOTICE, REDISCLOSURE_NOTICE_URL, NO_REDISCLOSURE, withRedisclosureNotice, discloseAll, isPart2 } from '../../access/notice.ts';
