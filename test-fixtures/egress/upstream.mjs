// The egress e2e tests' upstream: HTTPS on 443 (a leaf per SNI name from
// /certs/<name>.{crt,key}, signed by the test's own CA) and HTTP on 80.
// Every request's headers are appended to /record/requests.jsonl (a bind
// mount the test reads); answers never echo header values back.
import { appendFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

function handler(scheme) {
  return (req, res) => {
    appendFileSync('/record/requests.jsonl', `${JSON.stringify({ scheme, method: req.method, url: req.url, headers: req.headers })}\n`);
    const body = JSON.stringify({ scheme, host: req.headers.host, url: req.url, sawAuthorization: req.headers.authorization !== undefined });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  };
}

const context = (name) => tls.createSecureContext({ cert: readFileSync(`/certs/${name}.crt`), key: readFileSync(`/certs/${name}.key`) });
const names = readFileSync('/certs/names', 'utf8').trim().split('\n');
https
  .createServer({ cert: readFileSync(`/certs/${names[0]}.crt`), key: readFileSync(`/certs/${names[0]}.key`), SNICallback: (name, done) => done(null, context(names.includes(name) ? name : names[0])) }, handler('https'))
  .listen(443, () => console.log('https ready'));
http.createServer(handler('http')).listen(80, () => console.log('http ready'));
