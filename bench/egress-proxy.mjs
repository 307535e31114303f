// Requests per second and added latency through the egress proxy, against
// direct requests to the same upstream (loopback), as ratios. Prints; asserts nothing.
//   node bench/egress-proxy.mjs [--seconds 3] [--concurrency 16]
// Needs the built package: npm run build.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { CertificateAuthority, startEgressProxy } from '../packages/egress-proxy/dist/index.js';

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const seconds = arg('seconds', 3);
const concurrency = arg('concurrency', 16);

const ca = CertificateAuthority.mint({ label: 'bench upstream' });
const leaf = ca.leafFor('localhost');
const body = Buffer.alloc(1024, 'x');
const handler = (_req, res) => res.writeHead(200, { 'content-length': body.length }).end(body);
const secure = https.createServer({ key: leaf.keyPem, cert: leaf.certPem }, handler);
const plain = http.createServer(handler);
await new Promise((r) => secure.listen(0, '127.0.0.1', r));
await new Promise((r) => plain.listen(0, '127.0.0.1', r));
const httpsPort = secure.address().port;
const httpPort = plain.address().port;
const proxy = await startEgressProxy(
  {
    bottle: 'bench',
    allow: [`localhost:${httpsPort}`, `localhost:${httpPort}`, `127.0.0.1:${httpsPort}`],
    routes: [{ host: 'localhost', header: 'authorization', fromEnv: 'TOKEN' }],
    listen: { host: '127.0.0.1', port: 0 },
  },
  { TOKEN: 'Bearer bench' },
  { upstreamCa: ca.certPem },
);

const drain = (res) => new Promise((resolve) => { res.resume(); res.on('end', resolve); });

/** One keep-alive client; returns a function doing one request. */
function client(kind) {
  if (kind === 'http-direct') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    return () => new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port: httpPort, path: '/', agent }, (res) => drain(res).then(resolve)).on('error', reject));
  }
  if (kind === 'http-proxy') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    return () => new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port: proxy.port, path: `http://localhost:${httpPort}/`, agent }, (res) => drain(res).then(resolve)).on('error', reject));
  }
  if (kind === 'https-direct') {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem });
    return () => new Promise((resolve, reject) => https.get({ host: 'localhost', port: httpsPort, path: '/', agent }, (res) => drain(res).then(resolve)).on('error', reject));
  }
  // https through the proxy: a tunnel (127.0.0.1, no route) or a terminated connection (localhost, injected header).
  const host = kind === 'https-tunnel' ? '127.0.0.1' : 'localhost';
  const trust = kind === 'https-tunnel' ? ca.certPem : proxy.caCertPem;
  class TunnelAgent extends https.Agent {
    createConnection(options, callback) {
      const req = http.request({ host: '127.0.0.1', port: proxy.port, method: 'CONNECT', path: `${host}:${httpsPort}` });
      req.on('connect', (_res, socket) => callback(null, tls.connect({ socket, servername: host === 'localhost' ? host : undefined, ca: trust })));
      req.on('error', (error) => callback(error));
      req.end();
    }
  }
  const agent = new TunnelAgent({ keepAlive: true, maxSockets: 1 });
  return () => new Promise((resolve, reject) => https.get({ host, port: httpsPort, path: '/', agent }, (res) => drain(res).then(resolve)).on('error', reject));
}

async function measure(kind) {
  const clients = Array.from({ length: concurrency }, () => client(kind));
  await Promise.all(clients.map((one) => one())); // warm: connections, leaf certs
  const latencies = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    clients.map(async (one) => {
      while (performance.now() < end) {
        const start = performance.now();
        await one();
        latencies.push(performance.now() - start);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / seconds, p50: latencies[Math.floor(latencies.length / 2)], p99: latencies[Math.floor(latencies.length * 0.99)] };
}

const results = {};
for (const kind of ['http-direct', 'http-proxy', 'https-direct', 'https-tunnel', 'https-terminated']) results[kind] = await measure(kind);
const row = (kind, base) => {
  const r = results[kind];
  const b = results[base];
  return `${kind.padEnd(17)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2).padStart(6)} ms  p99 ${r.p99.toFixed(2).padStart(6)} ms` +
    (base === kind ? '  (baseline)' : `  throughput x${(r.rps / b.rps).toFixed(2)}  added p50 latency +${(r.p50 - b.p50).toFixed(2)} ms (x${(r.p50 / b.p50).toFixed(2)})`);
};
console.log(`egress proxy vs direct, loopback, ${concurrency} keep-alive clients, ${seconds}s each`);
console.log(row('http-direct', 'http-direct'));
console.log(row('http-proxy', 'http-direct'));
console.log(row('https-direct', 'https-direct'));
console.log(row('https-tunnel', 'https-direct'));
console.log(row('https-terminated', 'https-direct'));
await proxy.close();
secure.closeAllConnections();
plain.closeAllConnections();
secure.close();
plain.close();
