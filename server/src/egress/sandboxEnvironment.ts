// What a sandbox with network is told about its proxy: the variables curl,
// pip, go, cargo and most HTTP clients read, in both cases, and the settings
// of the tools that read their own (npm, yarn, git), so that the ordinary
// tools work unchanged. The proxy is the sandbox's only way out; loopback is
// left direct (the model gateway's relay lives there).
export const EGRESS_RELAY_PORT = 3128;

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
  };
}
