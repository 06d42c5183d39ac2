// Reads token usage out of a model response as it streams past, without
// holding the stream: Responses (`response.completed`) and Chat Completions
// (a chunk with `usage`) over SSE, or a plain JSON body.
import { createParser } from 'eventsource-parser';
import { StringDecoder } from 'node:string_decoder';

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

const MAX_JSON_BODY = 16 * 1024 * 1024;

export function usageFrom(payload: unknown): Usage | undefined {
  if (!payload || typeof payload !== 'object') return undefined;
  const p = payload as Record<string, unknown>;
  const response = p.response as Record<string, unknown> | undefined;
  const u = (p.usage ?? response?.usage) as Record<string, unknown> | undefined;
  if (!u || typeof u !== 'object') return undefined;
  const input = Number(u.input_tokens ?? u.prompt_tokens ?? 0);
  const output = Number(u.output_tokens ?? u.completion_tokens ?? 0);
  const total = Number(u.total_tokens ?? input + output);
  if (![input, output, total].every(Number.isFinite)) return undefined;
  return { input_tokens: input, output_tokens: output, total_tokens: total };
}

export interface UsageTap {
  write(chunk: Buffer): void;
  /** The usage the response reported, once it has ended. */
  end(): Usage | undefined;
}

export function sseUsageTap(): UsageTap {
  const decoder = new StringDecoder('utf8');
  let usage: Usage | undefined;
  const parser = createParser({
    onEvent: (ev) => {
      if (!ev.data.includes('usage') || ev.data === '[DONE]') return;
      try {
        usage = usageFrom(JSON.parse(ev.data)) ?? usage;
      } catch {
        /* not JSON: not ours to judge, the agent sees it as sent */
      }
    },
  });
  return {
    write: (chunk) => parser.feed(decoder.write(chunk)),
    end: () => usage,
  };
}

export function jsonUsageTap(): UsageTap {
  const parts: Buffer[] = [];
  let size = 0;
  return {
    write: (chunk) => {
      size += chunk.length;
      if (size <= MAX_JSON_BODY) parts.push(chunk);
    },
    end: () => {
      if (size > MAX_JSON_BODY) return undefined;
      try {
        return usageFrom(JSON.parse(Buffer.concat(parts).toString('utf8')));
      } catch {
        return undefined;
      }
    },
  };
}
