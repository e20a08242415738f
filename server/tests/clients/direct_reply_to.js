// amqplib's shipped direct reply-to example, unmodified: its
// examples/direct_reply_to_server.js answers ' [.] pong' to each request on
// 'rpc_queue', and examples/direct_reply_to_client.js consumes from
// amq.rabbitmq.reply-to, sends ' [X] ping' with replyTo set to it, prints
// the reply and exits. The test asserts both printed what they received.
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');

const examples = path.join(path.dirname(require.resolve('amqplib')), 'examples');
const preload = path.join(__dirname, 'amqplib_default_url.js');
const children = [];

function run(script) {
  const child = spawn(process.execPath, ['--require', preload, path.join(examples, script)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  child.output = '';
  child.stdout.on('data', (data) => {
    child.output += data;
    process.stdout.write(`${script}: ${data}`);
  });
  child.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return child;
}

async function until(condition, what) {
  const deadline = Date.now() + 10000;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function main() {
  const server = run('direct_reply_to_server.js');
  await until(() => server.output.includes('To exit press CTRL+C'), 'the server example');
  const client = run('direct_reply_to_client.js');
  let clientCode = null;
  client.exited.then((code) => { clientCode = code; });
  await until(() => clientCode !== null, 'the client example to exit');
  assert.equal(clientCode, 0, 'the client example exits cleanly');
  assert.match(client.output, /\[\.\] pong/, 'the client received the reply');
  assert.match(server.output, /\[X\] ping/, 'the server received the request');
  server.kill('SIGINT');
  let serverCode = null;
  server.exited.then((code) => { serverCode = code; });
  await until(() => serverCode !== null, 'the server example to exit on SIGINT');
  console.log('direct_reply_to: the shipped examples exchanged ping and pong');
}

main().catch((error) => {
  console.error(error);
  for (const child of children) child.kill('SIGKILL');
  process.exit(1);
});
