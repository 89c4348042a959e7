import { ClientStorage, MedplumClient, MemoryStorage } from '@medplum/core';
import { type SmartClient, smartFetch } from './smart.ts';

/**
 * A MedplumClient for @medplum/react's components that never signs in or refreshes by itself
 * (it would send no `aud` or `launch`): every request goes through `smartFetch`, which carries
 * fhirclient's token. Its storage is in memory, so nothing it decides to clear can touch the
 * other apps on this origin.
 */
export function medplumFor(appId: string, smart: SmartClient, onUnauthenticated: () => void): MedplumClient {
  const fetchWithToken = smartFetch(smart);
  return new MedplumClient({
    baseUrl: `${window.location.origin}/`,
    fhirUrlPath: 'fhir/R4',
    storagePrefix: `bh:${appId}:medplum:`,
    storage: new ClientStorage(new MemoryStorage()),
    fetch: fetchWithToken as never,
    onUnauthenticated,
    cacheTime: 0,
    autoBatchTime: 0,
  });
}
