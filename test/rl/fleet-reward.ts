/**
 * The reward of the fleet tests: the mean token id of the completion over 100, so that every
 * sampled token moves the reward and the advantages (the tiny model's answers are never right).
 * While the file its params name exists it waits first: a test holds a run between two steps
 * with it (to restart a server while the trainer waits) without blocking the trainer's event loop.
 */
import { existsSync } from "node:fs";
import type { RewardInput } from "../../src/rewards/types.ts";

export default async function meanTokenId(
  input: RewardInput,
  params: { pauseFile: string },
): Promise<number> {
  while (existsSync(params.pauseFile)) await new Promise((r) => setTimeout(r, 20));
  const ids = input.completion.tokenIds;
  return ids.reduce((a, b) => a + b, 0) / Math.max(1, ids.length) / 100;
}
