// An S3-compatible server on loopback for the demo and the tests (s3rver). Run it under
// `node --openssl-legacy-provider`: without it s3rver fails to list past one page.
// Usage: node --openssl-legacy-provider s3-server.mjs <port> <directory>
import S3rver from 's3rver';

const [port, directory] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory,
  silent: true,
  allowMismatchedSignatures: false,
});

// s3rver keeps each object as files named after the key's last segment plus a suffix of up to
// 22 characters, so a segment past 233 bytes makes the file system refuse the name and the
// server fail. Such keys are refused up front with S3's KeyTooLongError; real S3 stores them.
const MAX_SEGMENT_BYTES = 255 - '._S3rver_metadata.json'.length;
server.middleware.unshift(async (ctx, next) => {
  let path;
  try {
    path = decodeURIComponent(ctx.path);
  } catch {
    path = ctx.path;
  }
  const tooLong = path.split('/').some((part) => Buffer.byteLength(part) > MAX_SEGMENT_BYTES);
  if (!tooLong) return next();
  ctx.status = 400;
  ctx.type = 'application/xml';
  ctx.body =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>KeyTooLongError</Code>' +
    `<Message>a key segment is longer than ${MAX_SEGMENT_BYTES} bytes (this local server's ` +
    'file-name limit)</Message></Error>';
});
// Whatever else goes wrong in one request must not take the server down for every client.
process.on('uncaughtException', (err) => process.stderr.write(`s3 server: ${err.stack}\n`));

const { port: bound } = await server.run();
process.stdout.write(`listening ${bound}\n`);
const stop = () => server.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
