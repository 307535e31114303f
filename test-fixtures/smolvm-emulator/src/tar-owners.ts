// smolvm EMULATOR helper: rewrite the owner of every entry in a tar archive.
//
// smolvm's packer (before 1.8.1) flattened an image into a rootfs that had
// every file owned by the uid of the host user who ran `pack create` (501 on
// macOS). The emulator reproduces that by streaming the flattened rootfs tar
// through this rewriter. Handles ustar/GNU headers and PAX extended headers
// (uid/gid records are rewritten, uname/gname records dropped); only node
// built-ins are used.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

const BLOCK = 512;

function readFully(fd: number, buf: Buffer, len: number): number {
  let off = 0;
  while (off < len) {
    const n = readSync(fd, buf, off, len - off, null);
    if (n === 0) break;
    off += n;
  }
  return off;
}

function writeFully(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

function parseNumeric(hdr: Buffer, off: number, len: number): number {
  const first = hdr[off] ?? 0;
  if (first & 0x80) {
    // GNU base-256 encoding
    let v = first & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + (hdr[off + i] ?? 0);
    return v;
  }
  const s = hdr.toString('latin1', off, off + len).replace(/\0.*$/s, '').trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function writeOctal(hdr: Buffer, off: number, len: number, value: number): void {
  const s = value.toString(8).padStart(len - 1, '0');
  hdr.write(s + '\0', off, len, 'latin1');
}

function setChecksum(hdr: Buffer): void {
  hdr.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += hdr[i] ?? 0;
  hdr.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
}

function rewritePax(data: Buffer, uid: number, gid: number): { data: Buffer; size: number | undefined } {
  const out: string[] = [];
  let size: number | undefined;
  let pos = 0;
  // Records are "LEN key=value\n"; LEN counts bytes, so walk the Buffer.
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    if (sp < 0) break;
    const len = parseInt(data.toString('latin1', pos, sp), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = data.toString('utf8', sp + 1, pos + len - 1);
    pos += len;
    const eq = rec.indexOf('=');
    const key = eq < 0 ? rec : rec.slice(0, eq);
    const value = eq < 0 ? '' : rec.slice(eq + 1);
    if (key === 'uid') out.push(`uid=${uid}`);
    else if (key === 'gid') out.push(`gid=${gid}`);
    else if (key === 'uname' || key === 'gname') continue;
    else {
      if (key === 'size') size = parseInt(value, 10);
      out.push(rec);
    }
  }
  const parts = out.map((kv) => {
    const body = Buffer.byteLength(kv, 'utf8') + 2; // space + newline
    let n = body + String(body).length;
    if (String(n).length > String(body).length) n = body + String(n).length;
    return `${n} ${kv}\n`;
  });
  return { data: Buffer.from(parts.join(''), 'utf8'), size };
}

/** Copy `src` to `dst`, setting every entry's uid/gid to the given ids. */
export function remapTarOwners(src: string, dst: string, uid: number, gid: number): void {
  const fin = openSync(src, 'r');
  const fout = openSync(dst, 'w');
  try {
    const hdr = Buffer.alloc(BLOCK);
    const chunk = Buffer.alloc(1 << 20);
    let nextSize: number | undefined;
    for (;;) {
      const n = readFully(fin, hdr, BLOCK);
      if (n < BLOCK) break;
      if (hdr.every((b) => b === 0)) {
        // End-of-archive: emit the two zero blocks and stop.
        writeFully(fout, Buffer.alloc(BLOCK * 2));
        break;
      }
      const type = String.fromCharCode(hdr[156] ?? 0);
      let size = parseNumeric(hdr, 124, 12);
      if (type === 'x' || type === 'g') {
        const padded = Math.ceil(size / BLOCK) * BLOCK;
        const raw = Buffer.alloc(padded);
        readFully(fin, raw, padded);
        const rewritten = rewritePax(raw.subarray(0, size), uid, gid);
        if (type === 'x') nextSize = rewritten.size;
        writeOctal(hdr, 124, 12, rewritten.data.length);
        setChecksum(hdr);
        writeFully(fout, hdr);
        const outPadded = Buffer.alloc(Math.ceil(rewritten.data.length / BLOCK) * BLOCK);
        rewritten.data.copy(outPadded);
        writeFully(fout, outPadded);
        continue;
      }
      if (nextSize !== undefined && type !== 'L' && type !== 'K') {
        size = nextSize;
        nextSize = undefined;
      }
      writeOctal(hdr, 108, 8, uid);
      writeOctal(hdr, 116, 8, gid);
      hdr.fill(0, 265, 265 + 32); // uname
      hdr.fill(0, 297, 297 + 32); // gname
      setChecksum(hdr);
      writeFully(fout, hdr);
      // Hard links, symlinks, dirs, devices carry no data (size 0 there).
      let remaining = ['1', '2', '3', '4', '5', '6'].includes(type) ? 0 : Math.ceil(size / BLOCK) * BLOCK;
      while (remaining > 0) {
        const want = Math.min(remaining, chunk.length);
        const got = readFully(fin, chunk, want);
        if (got === 0) throw new Error('truncated tar archive');
        writeFully(fout, chunk.subarray(0, got));
        remaining -= got;
      }
    }
  } finally {
    closeSync(fin);
    closeSync(fout);
  }
}
