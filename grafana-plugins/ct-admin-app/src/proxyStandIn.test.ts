import {
  BadGateway,
  decide,
  interpolate,
  joinURLFragments,
  loadRoutes,
  matchPath,
  outgoing,
  roleIncludes,
} from '../e2e/grafana/pluginProxy';

/**
 * The browser suite's stand-in of Grafana's plugin proxy must behave as Grafana does, or the
 * routes it "proves" prove nothing: Grafana 12's router tree, first-match route choice, reqRole,
 * text/template lookups and header handling (pkg/api/pluginproxy, pkg/web/tree.go, pkg/util/proxyutil).
 */
describe("the stand-in of Grafana's plugin proxy", () => {
  it("matches paths like Grafana's router tree", () => {
    expect(matchPath('api/clients', 'api/clients')).toEqual({ rest: '' });
    expect(matchPath('api/clients', '/api/clients/')).toEqual({ rest: '' });
    expect(matchPath('api/clients', 'api/clients/x')).toBeNull();
    expect(matchPath('api/clients/*', 'api/clients')).toBeNull();
    expect(matchPath('api/clients/*', 'api/clients/pizza-shop/pause')).toEqual({ rest: 'pizza-shop/pause' });
    expect(matchPath('api/clients/*', 'api/clients/a%20b')).toEqual({ rest: 'a b' });
    expect(matchPath('api/clients/:client', 'api/clients/x')).toEqual({ rest: '' });
    expect(matchPath('api/clients/:client', 'api/clients/x/y')).toBeNull();
    expect(matchPath('api/Clients', 'api/clients')).toBeNull();
  });

  it('uses the first route that matches the method and path, and does not fall through on a denied role', () => {
    const routes = loadRoutes([
      { path: 'api/admin/status', method: 'GET', reqRole: 'Editor', url: 'http://a/api/admin/status' },
      { path: 'api/admin/*', method: 'GET', reqRole: 'Admin', url: 'http://a/api/admin' },
      { path: 'api/admin/*', method: 'POST', reqRole: 'Admin', url: 'http://a/api/admin' },
      { path: 'api/*', url: 'http://a/api' },
    ]);
    expect(decide(routes, 'GET', 'api/admin/status', 'Editor')).toMatchObject({ status: 200, rest: '' });
    expect(decide(routes, 'GET', 'api/admin/audit', 'Editor')).toEqual(
      expect.objectContaining({ status: 403, message: 'plugin proxy route access denied' })
    );
    expect(decide(routes, 'DELETE', 'api/admin/audit', 'Viewer')).toMatchObject({
      status: 200,
      route: { path: 'api/*' },
      rest: 'admin/audit',
    });
    expect(decide(loadRoutes([]), 'GET', 'x', 'Admin')).toEqual({
      status: 404,
      message: 'plugin route match not found',
    });
    expect(roleIncludes('Admin', 'Editor')).toBe(true);
    expect(roleIncludes('Editor', 'Admin')).toBe(false);
  });

  it('renders text/template lookups, printing <no value> for a missing key', () => {
    const s = { jsonData: { apiUrl: 'http://api:8080' }, secureJsonData: { proxySecret: 's' } };
    expect(interpolate('{{ .JsonData.apiUrl }}/api', s)).toBe('http://api:8080/api');
    expect(interpolate('{{.SecureJsonData.proxySecret}}', s)).toBe('s');
    expect(interpolate('{{ .SecureJsonData.other }}', s)).toBe('<no value>');
    expect(() => interpolate('{{ .JsonData.apiUrl | printf "%s" }}', s)).toThrow(/could not parse template/);
  });

  it('joins paths as util.JoinURLFragments and builds the upstream request', () => {
    expect(joinURLFragments('/api/clients', '')).toBe('/api/clients');
    expect(joinURLFragments('/api/clients', 'x')).toBe('/api/clients/x');
    expect(joinURLFragments('/api/clients/', '/x')).toBe('/api/clients/x');
    const routes = loadRoutes([
      {
        path: 'api/clients/*',
        method: 'POST',
        reqRole: 'Admin',
        url: '{{ .JsonData.apiUrl }}/api/clients',
        headers: [{ name: 'X-CT-Proxy-Secret', content: '{{ .SecureJsonData.proxySecret }}' }],
      },
    ]);
    const d = decide(routes, 'POST', 'api/clients/pizza/pause', 'Admin');
    if (d.status !== 200) {
      throw new Error('expected a match');
    }
    const out = outgoing(
      d,
      {
        search: '?a=1',
        headers: {
          cookie: 'grafana_session=x',
          'x-grafana-user': 'forged',
          'x-ct-proxy-secret': 'forged',
          origin: 'http://g',
          referer: 'http://g/a',
        },
        remoteAddress: '10.0.0.9',
      },
      { jsonData: { apiUrl: 'http://api:8080' }, secureJsonData: { proxySecret: 'real' } },
      { login: 'alice', role: 'Admin' },
      true
    );
    expect(out.url).toBe('http://api:8080/api/clients/pizza/pause?a=1');
    expect(out.headers).toMatchObject({
      'x-ct-proxy-secret': 'real',
      'x-grafana-user': 'alice',
      'x-grafana-referer': 'http://g/a',
      'x-forwarded-for': '10.0.0.9',
    });
    expect(out.headers).not.toHaveProperty('cookie');
    expect(out.headers).not.toHaveProperty('origin');
    const noUser = outgoing(
      d,
      { search: '', headers: { 'x-grafana-user': 'forged' } },
      { jsonData: { apiUrl: 'http://api:8080' }, secureJsonData: {} },
      { login: 'alice', role: 'Admin' },
      false
    );
    expect(noUser.headers).not.toHaveProperty('x-grafana-user');
    expect(() =>
      outgoing(
        d,
        { search: '', headers: {} },
        { jsonData: {}, secureJsonData: {} },
        { login: 'alice', role: 'Admin' },
        true
      )
    ).toThrow(BadGateway);
  });

  it('refuses route features it does not implement', () => {
    expect(() => loadRoutes([{ path: 'x', reqAction: 'a:read' }])).toThrow(/reqAction/);
    expect(() => loadRoutes([{ path: 'x/*/y' }])).toThrow(/before its last segment/);
    expect(() => loadRoutes([{ path: 'x', reqRole: 'Owner' }])).toThrow(/reqRole Owner/);
  });
});
