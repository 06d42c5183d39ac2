// The OpenAPI document, generated from the routes' zod schemas. Schemas with
// an id in zod's registry (the run events) become components; the generator
// makes an input and an output copy of each, and only those the document
// refers to are kept, so each event type is listed once.
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransformObject } from 'fastify-type-provider-zod';

type Document = ReturnType<typeof jsonSchemaTransformObject>;

export const openapiTransformObject: typeof jsonSchemaTransformObject = (input) => withoutUnusedSchemas(jsonSchemaTransformObject(input));

export async function openapiRoutes(app: FastifyInstance): Promise<void> {
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

const SCHEMA_REF = '#/components/schemas/';

/** The document with only the component schemas its paths reach, directly or through other components. */
function withoutUnusedSchemas(doc: Document): Document {
  if (!('components' in doc) || !doc.components?.schemas) return doc;
  const schemas = doc.components.schemas;
  const kept = new Set<string>();
  const pending = refsIn(doc.paths);
  while (pending.length) {
    const name = pending.pop()!;
    if (kept.has(name) || !(name in schemas)) continue;
    kept.add(name);
    pending.push(...refsIn(schemas[name]));
  }
  // The generator built this schemas object for this document alone: trimming it in place touches nothing shared.
  for (const name of Object.keys(schemas)) if (!kept.has(name)) delete schemas[name];
  return doc;
}

function refsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refsIn(v, out);
  else if (value && typeof value === 'object')
    for (const [key, v] of Object.entries(value)) {
      if (key === '$ref' && typeof v === 'string' && v.startsWith(SCHEMA_REF)) out.push(v.slice(SCHEMA_REF.length));
      else refsIn(v, out);
    }
  return out;
}
