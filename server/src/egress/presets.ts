// The named lists a server's network.allow (and a request) may use instead of
// spelling out each host. Each is what the ecosystem's own client contacts for
// an ordinary install or clone over HTTPS; mirrors and private registries are
// named in the config by host instead.
import type { NetworkPreset } from '@astraforge/contract/networkPolicy';

export const PRESET_HOSTS: Record<NetworkPreset, readonly string[]> = {
  /** npm, yarn and pnpm against the public registry (metadata and tarballs). */
  npm: ['registry.npmjs.org', 'registry.yarnpkg.com'],
  /** pip: the index and the files it links to. */
  pypi: ['pypi.org', 'files.pythonhosted.org'],
  /** cargo: the sparse index, the API and the crate downloads. */
  crates: ['crates.io', 'index.crates.io', 'static.crates.io'],
  /** go mod download through the module proxy and the checksum database. */
  go: ['proxy.golang.org', 'sum.golang.org', 'index.golang.org'],
  /** git clone over HTTPS, release assets, raw files and the API. */
  github: ['github.com', 'api.github.com', 'codeload.github.com', '*.githubusercontent.com'],
  /** git clone over HTTPS, the API and the package registry. */
  gitlab: ['gitlab.com', 'registry.gitlab.com'],
  /** apt against Debian's mirrors and security updates. */
  debian: ['deb.debian.org', 'security.debian.org'],
};
