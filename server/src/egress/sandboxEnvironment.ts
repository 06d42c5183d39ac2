// What a sandbox with network is told about its proxy: the variables curl,
// pip, go, cargo and most HTTP clients read, in both cases, and the settings
// of the tools that read their own (npm, yarn, git), so that the ordinary
// tools work unchanged. The proxy is the sandbox's only way out; loopback is
// left direct (the model gateway's relay lives there).
export const EGRESS_RELAY_PORT = 3128;

/** The path af-runner asks the egress proxy for its CA's certificate at (origin form: no host). */
export const CA_PATH = '/.astraforge/egress-ca.pem';
/**
 * Where af-runner writes, as the sandbox starts, the proxy's CA alone and the
 * sandbox's own trusted roots with the CA added (af-runner.c, EGRESS_CA_*).
 * Without a CA (no terminated host) the bundle is the sandbox's roots alone.
 */
export const SANDBOX_CA_FILE = '/tmp/.astraforge/egress-ca.pem';
export const SANDBOX_CA_BUNDLE = '/tmp/.astraforge/ca-bundle.pem';

export function proxyEnvironment(port: number = EGRESS_RELAY_PORT): Record<string, string> {
  const url = `http://127.0.0.1:${port}`;
  const noProxy = 'localhost,127.0.0.1,::1';
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    ALL_PROXY: url,
    NO_PROXY: noProxy,
    http_proxy: url,
    https_proxy: url,
    all_proxy: url,
    no_proxy: noProxy,
    npm_config_proxy: url,
    npm_config_https_proxy: url,
    npm_config_noproxy: noProxy,
    YARN_HTTP_PROXY: url,
    YARN_HTTPS_PROXY: url,
    PIP_PROXY: url,
    CARGO_HTTP_PROXY: url,
    // git reads http.proxy from its config; these add it to every git command's without a file.
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.proxy',
    GIT_CONFIG_VALUE_0: url,
    // The trust a terminated host's certificate needs; each of these replaces the tool's roots, so it names the whole bundle.
    SSL_CERT_FILE: SANDBOX_CA_BUNDLE,
    CURL_CA_BUNDLE: SANDBOX_CA_BUNDLE,
    GIT_SSL_CAINFO: SANDBOX_CA_BUNDLE,
    REQUESTS_CA_BUNDLE: SANDBOX_CA_BUNDLE,
    PIP_CERT: SANDBOX_CA_BUNDLE,
    CARGO_HTTP_CAINFO: SANDBOX_CA_BUNDLE,
    // Node adds these to its own roots.
    NODE_EXTRA_CA_CERTS: SANDBOX_CA_FILE,
  };
}
