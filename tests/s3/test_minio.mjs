// tests/s3/test_minio.mjs - the npm `minio` JS client against a running mod_s3.
// Usage: node test_minio.mjs HOST PORT ACCESS_KEY SECRET_KEY
// (NODE_PATH or a node_modules next to it must provide `minio`.)
// Prints one line per check and "N passed, N failed"; exits 1 on a failure.
import { createRequire } from 'module';
import crypto from 'crypto';
import { Readable } from 'stream';

const require = createRequire(import.meta.url);
const Minio = require('minio');
const [host, port, accessKey, secretKey] = process.argv.slice(2);
const c = new Minio.Client({ endPoint: host, port: Number(port), useSSL: false, accessKey,
                             secretKey, region: 'us-east-1', pathStyle: true });
let passed = 0, failed = 0;
const check = (name, cond, detail) => {
  if (cond) { passed++; console.log('ok   ' + name); }
  else { failed++; console.log('FAIL ' + name + ' ' + (detail === undefined ? '' : JSON.stringify(detail))); }
};
const readAll = async (s) => { const b = []; for await (const x of s) b.push(x); return Buffer.concat(b); };
const B = 'minio-js';

try {
  await c.makeBucket(B, 'us-east-1');
  check('makeBucket', await c.bucketExists(B));
  const small = Buffer.from('hello from minio-js\n');
  await c.putObject(B, 'dir/small.txt', small, small.length, { 'Content-Type': 'text/plain', 'X-Amz-Meta-Who': 'js' });
  const st = await c.statObject(B, 'dir/small.txt');
  check('statObject etag/size/meta', st.size === small.length &&
        st.etag === crypto.createHash('md5').update(small).digest('hex') && st.metaData.who === 'js', st);
  check('getObject', (await readAll(await c.getObject(B, 'dir/small.txt'))).equals(small));
  check('getPartialObject', (await readAll(await c.getPartialObject(B, 'dir/small.txt', 6, 4))).toString() === 'from');
  // a stream of unknown length > partSize: multipart with 5 MiB parts
  const big = crypto.randomBytes(12 * 1024 * 1024 + 3);
  await c.putObject(B, 'big.bin', Readable.from([big]), undefined, {}, );
  const bst = await c.statObject(B, 'big.bin');
  check('multipart putObject (stream)', bst.size === big.length && /-\d+$/.test(bst.etag), bst);
  check('multipart content', (await readAll(await c.getObject(B, 'big.bin'))).equals(big));
  const keys = [];
  for await (const o of c.listObjectsV2(B, '', true)) keys.push(o.name);
  check('listObjectsV2 recursive', JSON.stringify(keys) === JSON.stringify(['big.bin', 'dir/small.txt']), keys);
  const pfx = [];
  for await (const o of c.listObjects(B, '', false)) pfx.push(o.prefix || o.name);
  check('listObjects with delimiter', JSON.stringify(pfx) === JSON.stringify(['big.bin', 'dir/']), pfx);
  await c.copyObject(B, 'copy.txt', `/${B}/dir/small.txt`, new Minio.CopyConditions());
  check('copyObject', (await readAll(await c.getObject(B, 'copy.txt'))).equals(small));
  const url = await c.presignedGetObject(B, 'dir/small.txt', 60);
  const r = await fetch(url);
  check('presignedGetObject', r.status === 200 && Buffer.from(await r.arrayBuffer()).equals(small));
  await c.removeObjects(B, ['copy.txt', 'big.bin', 'dir/small.txt']);
  const left = [];
  for await (const o of c.listObjectsV2(B, '', true)) left.push(o.name);
  check('removeObjects', left.length === 0, left);
  try { await c.statObject(B, 'nope'); check('statObject missing -> NotFound', false); }
  catch (e) { check('statObject missing -> NotFound', e.code === 'NotFound' || e.code === 'NoSuchKey', e.code); }
  await c.removeBucket(B);
  check('removeBucket', !(await c.bucketExists(B)));
} catch (e) {
  check('no exception', false, String(e && e.stack || e));
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
