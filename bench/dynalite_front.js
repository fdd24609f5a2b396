// dynalite with the two calls the pipeline makes that dynalite 4 does not implement.
//
// Benchmark only (bench/dynalite.py starts it; never a test dependency, never deployed):
//   node bench/dynalite_front.js PORT    (NODE_PATH names the folder holding node_modules/dynalite)
//
// - UpdateTimeToLive (create_table enables TTL): accepted and ignored; nothing expires here.
// - TransactWriteItems: emulated as its writes, one after another, each asking for ALL_OLD; when a
//   write fails, the ones already applied are put back as they were (or deleted if they were new)
//   and the answer is TransactionCanceledException with one reason per write, as DynamoDB gives.
//   Not isolated: another client can see the first write before the last, and each condition is
//   checked after the writes before it rather than all before any. The pipeline's transactions
//   write distinct items (a conditional update of a booking or job, puts of new event items, a
//   conditional update of the job's record), so the second difference cannot change an outcome.
//   ConditionCheck is refused.
//
// - ReturnValuesOnConditionCheckFailure (ALL_OLD) on PutItem, UpdateItem, DeleteItem and inside a
//   transaction: dynalite 4 ignores it, so when such a write fails its condition the front reads
//   the item (GetItem, consistent) and returns it as DynamoDB does: `Item` beside the error, or in
//   the write's cancellation reason. That read comes after the failed write, not with it.
//
// Every other request goes to dynalite's own handler untouched. dynalite keeps no streams:
// DescribeTable shows no LatestStreamArn, whatever CreateTable asked for.

'use strict'

const http = require('http')
const dynalite = require('dynalite')

const API = 'DynamoDB_20120810'
const port = Number(process.argv[2] || 0)
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
const inner = server.listeners('request')[0]
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
const keySchemas = new Map() // table name -> key attribute names
const INTERNAL = 'x-dynalite-front'
const WRITES = new Set([ 'PutItem', 'UpdateItem', 'DeleteItem' ].map((name) => `${API}.${name}`))
const CONDITION_FAILED = 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException'

server.removeAllListeners('request')
server.on('request', (req, res) => {
  const target = req.headers['x-amz-target'] || ''
  if (req.headers[INTERNAL]) return inner(req, res) // the front's own calls, below
  if (target === `${API}.TransactWriteItems`) return readJson(req, res, (body) => transact(req, res, body))
  if (WRITES.has(target)) return readJson(req, res, (body) => single(req, res, target.split('.')[1], body))
  if (target === `${API}.UpdateTimeToLive`) {
    return readJson(req, res, (body) => send(res, 200, { TimeToLiveSpecification: body.TimeToLiveSpecification }))
  }
  return inner(req, res)
})

function readJson (req, res, then) {
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', () => {
    let body
    try {
      body = JSON.parse(Buffer.concat(chunks).toString() || '{}')
    } catch (err) {
      return send(res, 400, { __type: 'com.amazon.coral.service#SerializationException' })
    }
    then(body)
  })
}

function send (res, status, data) {
  const body = JSON.stringify(data)
  res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.0', 'Content-Length': Buffer.byteLength(body) })
  res.end(body)
}

// One call of dynalite's API over loopback, with the caller's (unverified) signature headers.
function call (req, operation, payload) {
  return new Promise((resolve) => {
    const body = JSON.stringify(payload)
    const headers = {
      'Content-Type': 'application/x-amz-json-1.0',
      'Content-Length': Buffer.byteLength(body),
      'X-Amz-Target': `${API}.${operation}`,
      Authorization: req.headers.authorization,
      'X-Amz-Date': req.headers['x-amz-date'],
      [INTERNAL]: '1',
    }
    const inside = http.request({ host: '127.0.0.1', port: server.address().port, method: 'POST', path: '/',
      headers, agent }, (answer) => {
      const chunks = []
      answer.on('data', (chunk) => chunks.push(chunk))
      answer.on('end', () => resolve({ status: answer.statusCode, data: JSON.parse(Buffer.concat(chunks).toString() || '{}') }))
    })
    inside.on('error', (err) => resolve({ status: 500, data: { __type: 'InternalFailure', message: String(err) } }))
    inside.end(body)
  })
}

async function keyNames (req, table) {
  if (!keySchemas.has(table)) {
    const described = await call(req, 'DescribeTable', { TableName: table })
    keySchemas.set(table, described.data.Table.KeySchema.map((key) => key.AttributeName))
  }
  return keySchemas.get(table)
}

// The item as it is now, when the failed write asked for it (ReturnValuesOnConditionCheckFailure).
async function oldItem (req, write, table, key) {
  if (write.ReturnValuesOnConditionCheckFailure !== 'ALL_OLD') return undefined
  const read = await call(req, 'GetItem', { TableName: table, Key: key, ConsistentRead: true })
  return read.data.Item
}

async function single (req, res, operation, body) {
  const { ReturnValuesOnConditionCheckFailure, ...write } = body
  const answer = await call(req, operation, write)
  if (answer.status === 200 || !String(answer.data.__type).endsWith('ConditionalCheckFailedException')) {
    return send(res, answer.status, answer.data)
  }
  const key = operation === 'PutItem' ? pick(body.Item, await keyNames(req, body.TableName)) : body.Key
  const item = await oldItem(req, body, body.TableName, key)
  send(res, 400, { __type: CONDITION_FAILED, message: 'The conditional request failed', ...(item ? { Item: item } : {}) })
}

function pick (item, names) {
  return Object.fromEntries(names.map((name) => [ name, item[name] ]))
}

async function write (req, operation) {
  const strip = ({ ReturnValuesOnConditionCheckFailure, ...rest }) => ({ ...rest, ReturnValues: 'ALL_OLD' })
  if (operation.Update) {
    const answer = await call(req, 'UpdateItem', strip(operation.Update))
    return { answer, write: operation.Update, table: operation.Update.TableName, key: operation.Update.Key }
  }
  if (operation.Put) {
    const answer = await call(req, 'PutItem', strip(operation.Put))
    const key = pick(operation.Put.Item, await keyNames(req, operation.Put.TableName))
    return { answer, write: operation.Put, table: operation.Put.TableName, key }
  }
  if (operation.Delete) {
    const answer = await call(req, 'DeleteItem', strip(operation.Delete))
    return { answer, write: operation.Delete, table: operation.Delete.TableName, key: operation.Delete.Key }
  }
  return { answer: { status: 400, data: { __type: 'com.amazon.coral.validate#ValidationException',
    message: 'bench/dynalite_front.js emulates Put, Update and Delete only' } } }
}

async function undo (req, done) {
  for (const { table, key, answer } of done.reverse()) {
    const old = answer.data.Attributes
    if (old) await call(req, 'PutItem', { TableName: table, Item: old })
    else await call(req, 'DeleteItem', { TableName: table, Key: key })
  }
}

async function transact (req, res, body) {
  const operations = body.TransactItems || []
  const done = []
  for (let index = 0; index < operations.length; index++) {
    const result = await write(req, operations[index])
    if (result.answer.status === 200) {
      done.push(result)
      continue
    }
    await undo(req, done)
    const failed = result.answer.data.__type || ''
    if (!failed.endsWith('ConditionalCheckFailedException')) return send(res, result.answer.status, result.answer.data)
    const item = await oldItem(req, result.write, result.table, result.key)
    const reasons = operations.map((_, n) => (n === index
      ? { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed', ...(item ? { Item: item } : {}) }
      : { Code: 'None' }))
    return send(res, 400, {
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
      message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
      CancellationReasons: reasons,
    })
  }
  send(res, 200, {})
}

server.listen(port, '127.0.0.1', () => {
  console.log(`dynalite_front listening at http://127.0.0.1:${server.address().port}`)
})
