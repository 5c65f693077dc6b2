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
const { port: bound } = await server.run();
process.stdout.write(`listening ${bound}\n`);
const stop = () => server.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
