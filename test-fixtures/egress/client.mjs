// Runs inside a bottle in the egress e2e tests. Prints one JSON line.
//   node client.mjs get URL          through $HTTPS_PROXY / $HTTP_PROXY, trusting Node's default store
//                                    (which NODE_EXTRA_CA_CERTS extends)
//   node client.mjs direct HOST PORT a TCP connection that ignores the proxy
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

const [mode, ...rest] = process.argv.slice(2);
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const timeout = setTimeout(() => {
  print({ error: 'timeout' });
  process.exit(0);
}, 15000);

function collect(res) {
  return new Promise((resolve) => {
    const chunks = [];
    res.on('data', (chunk) => chunks.push(chunk));
    res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
  });
}

async function get(target) {
  const url = new URL(target);
  const proxy = new URL(url.protocol === 'https:' ? process.env.HTTPS_PROXY : process.env.HTTP_PROXY);
  if (url.protocol === 'http:') {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: proxy.hostname, port: proxy.port, path: url.href, headers: { host: url.host } }, (res) => collect(res).then(resolve));
      req.on('error', reject);
      req.end();
    });
  }
  const port = Number(url.port || 443);
  const tunnel = await new Promise((resolve, reject) => {
    const req = http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: `${url.hostname}:${port}` });
    req.on('connect', (res, socket, head) => {
      if (res.statusCode === 200) return resolve({ socket });
      const chunks = [head];
      socket.on('data', (chunk) => chunks.push(chunk));
      socket.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
  if (!tunnel.socket) return { status: tunnel.status, body: tunnel.body, stage: 'connect' };
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: url.hostname, port, path: `${url.pathname}${url.search}`, createConnection: () => tls.connect({ socket: tunnel.socket, servername: url.hostname }) },
      (res) => collect(res).then(resolve),
    );
    req.on('error', reject);
    req.end();
  });
}

function direct(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port), timeout: 5000 });
    socket.on('connect', () => {
      socket.destroy();
      resolve({ connected: true });
    });
    socket.on('timeout', () => {
      socket.destroy();
      resolve({ connected: false, error: 'timeout' });
    });
    socket.on('error', (error) => resolve({ connected: false, error: error.code ?? error.message }));
  });
}

try {
  print(mode === 'direct' ? await direct(rest[0], rest[1]) : await get(rest[0]));
} catch (error) {
  print({ error: error.code ?? error.message });
}
clearTimeout(timeout);
