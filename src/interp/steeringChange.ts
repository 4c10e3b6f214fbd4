/** "What changed between the unsteered and the steered text", written by the same LLM client. */
import type { LlmClient } from './llmClient.ts';
import { steeringChangeMessages } from './prompts.ts';

export async function describeSteeringChange(client: LlmClient, prompt: string, unsteered: string, steered: string): Promise<string> {
  return (await client.chat(steeringChangeMessages(prompt, unsteered, steered), 'steering-change')).trim();
}
