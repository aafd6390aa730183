/**
 * Provider lookup by name (provider.ts `ProviderName`). Node-only, because it loads the `native`
 * provider: the browser-safe client SDK imports `./noble.js` directly instead.
 * @module
 */

import type { CryptoProvider, ProviderName } from '../provider.js';
import { native_provider } from './native.js';
import { noble_provider } from './noble.js';

/** Every provider name, `noble` first (protocol/provider.ts). */
export const PROVIDER_NAMES: readonly ProviderName[] = Object.freeze(['noble', 'native'] as const);

const PROVIDERS: Readonly<Record<ProviderName, CryptoProvider>> = Object.freeze({
  noble: noble_provider,
  native: native_provider,
});

/**
 * The provider called `name` (protocol.md §1 primitives; provider.ts). Throws TypeError for a
 * non-string and RangeError for an unknown name.
 */
export function get_provider(name: ProviderName): CryptoProvider {
  if (typeof name !== 'string') throw new TypeError('provider name must be a string');
  if (!Object.hasOwn(PROVIDERS, name)) {
    throw new RangeError(
      `unknown provider ${JSON.stringify(name)}; expected one of ${PROVIDER_NAMES.join(', ')}`,
    );
  }
  return PROVIDERS[name];
}
