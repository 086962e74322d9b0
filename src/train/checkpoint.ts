/**
 * Checkpoints of a training run: the trained tensors, the optimizer's moments
 * and step, and the loop's own state (data position, RNG seeds, ...), in
 * `<dir>/step-<N>/`. Each checkpoint is written into a temporary folder and
 * renamed into place, so a crash never leaves a half-written one; the oldest
 * are removed beyond `keepLast`. The trained tensors are read from the engine
 * one at a time, each just before it is written, so saving costs one
 * tensor's copy, not the model's.
 */
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { AdamW, Tensor } from "../engine/index.ts";
import { SafetensorsFile } from "../model/safetensors.ts";
import { writeFileAtomic, writeSafetensors } from "../model/safetensors-write.ts";

const PREFIX = "step-";

export interface CheckpointContents {
  step: number;
  /** The loop's own state, restored as saved (JSON). */
  extra: Record<string, unknown>;
}

/** Saves `tensors` (by name), the optimizer and `state`; returns the checkpoint's folder. */
export async function saveCheckpoint(
  dir: string,
  tensors: ReadonlyArray<readonly [string, Tensor]>,
  optimizer: AdamW,
  state: CheckpointContents,
  { keepLast = 2 } = {},
): Promise<string> {
  const final = join(dir, `${PREFIX}${state.step}`);
  const tmp = join(dir, `.tmp-${PREFIX}${state.step}-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    const f32 = (t: Tensor) => ({ dtype: "F32" as const, shape: [...t.shape], data: () => t.readF32() });
    await writeSafetensors(
      join(tmp, "weights.safetensors"),
      tensors.map(([name, t]) => [name, f32(t)] as const),
    );
    const opt = optimizer.state();
    await writeSafetensors(
      join(tmp, "optimizer.safetensors"),
      opt.m.flatMap((m, i) => [
        [`m.${i}`, { dtype: "F32" as const, shape: [m.length], data: m }] as const,
        [`v.${i}`, { dtype: "F32" as const, shape: [opt.v[i].length], data: opt.v[i] }] as const,
      ]),
    );
    const json = {
      step: state.step,
      optimizer_step: opt.step,
      names: tensors.map(([n]) => n),
      extra: state.extra,
    };
    await writeFileAtomic(join(tmp, "state.json"), `${JSON.stringify(json, null, 2)}\n`);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  for (const old of (await listCheckpoints(dir)).slice(0, -keepLast))
    await rm(old, { recursive: true, force: true });
  return final;
}

/** Checkpoint folders in `dir`, oldest first. */
export async function listCheckpoints(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(PREFIX) && /^\d+$/.test(n.slice(PREFIX.length)))
    .sort((a, b) => Number(a.slice(PREFIX.length)) - Number(b.slice(PREFIX.length)))
    .map((n) => join(dir, n));
}

/** Restores a checkpoint into `tensors` (same names and shapes) and the optimizer. */
export async function loadCheckpoint(
  path: string,
  tensors: ReadonlyArray<readonly [string, Tensor]>,
  optimizer: AdamW,
): Promise<CheckpointContents> {
  const state = JSON.parse(await readFile(join(path, "state.json"), "utf8"));
  const names = tensors.map(([n]) => n);
  if (JSON.stringify(state.names) !== JSON.stringify(names)) {
    throw new Error(`checkpoint ${path}: it holds tensors [${state.names}], the run has [${names}]`);
  }
  const weights = await SafetensorsFile.open(join(path, "weights.safetensors"));
  try {
    for (const [name, t] of tensors) {
      const shape = weights.entry(name).shape;
      if (shape.join() !== t.shape.join()) {
        throw new Error(`checkpoint ${path}: ${name} has shape [${shape}], the run's is [${t.shape}]`);
      }
      t.write(await weights.readFloat32(name));
    }
  } finally {
    await weights.close();
  }
  const opt = await SafetensorsFile.open(join(path, "optimizer.safetensors"));
  try {
    const n = opt.tensors.size / 2;
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    for (let i = 0; i < n; i++) {
      m.push(await opt.readFloat32(`m.${i}`));
      v.push(await opt.readFloat32(`v.${i}`));
    }
    optimizer.loadState({ step: state.optimizer_step, m, v });
  } finally {
    await opt.close();
  }
  return { step: state.step, extra: state.extra };
}
