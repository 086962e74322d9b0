/**
 * Checkpoints of a training run: the trained tensors, the optimizer's moments
 * and step, and the loop's own state (data position, RNG seeds, ...), in
 * `<dir>/step-<N>/`. Each checkpoint is written into a temporary folder and
 * renamed into place, so a crash never leaves a half-written one; the oldest
 * are removed beyond `keepLast`. The trained tensors and the AdamW moments are
 * read from the engine one at a time, each just before it is written (and
 * written back one at a time on load), so saving costs one tensor's copy, not
 * the model's.
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
    const { m, v } = optimizer.moments;
    const flat = (t: Tensor) => ({ dtype: "F32" as const, shape: [t.size], data: () => t.readF32() });
    await writeSafetensors(
      join(tmp, "optimizer.safetensors"),
      m.flatMap((mi, i) => [[`m.${i}`, flat(mi)] as const, [`v.${i}`, flat(v[i])] as const]),
    );
    const json = {
      step: state.step,
      optimizer_step: optimizer.stepCount,
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
    const { m, v } = optimizer.moments;
    if (opt.tensors.size !== 2 * m.length) {
      throw new Error(
        `checkpoint ${path}: ${opt.tensors.size / 2} AdamW moments, the optimizer has ${m.length}`,
      );
    }
    for (const [i, t] of m.entries()) t.write(await opt.readFloat32(`m.${i}`));
    for (const [i, t] of v.entries()) t.write(await opt.readFloat32(`v.${i}`));
    optimizer.stepCount = state.optimizer_step;
  } finally {
    await opt.close();
  }
  return { step: state.step, extra: state.extra };
}
