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
 * sandbox's own trusted roots with the CA added (af-runner.c, EGRESS_CA_*),
 * then sets SSL_CERT_FILE, CURL_CA_BUNDLE, GIT_SSL_CAINFO, REQUESTS_CA_BUNDLE,
 * PIP_CERT and CARGO_HTTP_CAINFO to the bundle and NODE_EXTRA_CA_CERTS to the
 * CA for every command. Where the server terminates no TLS (no CA), neither
 * files nor variables: the sandbox keeps its own trust.
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
    // The trust a terminated host's certificate needs (SSL_CERT_FILE and the like) is set by
    // af-runner, and only where the proxy has a CA to hand out: see SANDBOX_CA_BUNDLE.
  };
}
