// Finds the source locations an error points at (stack frames, compiler and
// test-runner messages) in Node, Python, Java, Go and the common
// `path:line:col` shape, and maps them onto the workspace's own files.

export interface SourceLocation {
  /** The path as the error wrote it (absolute, relative, or a Java class path). */
  rawPath: string;
  line: number;
  column?: number;
}

export interface WorkspaceLocation extends SourceLocation {
  /** The workspace file it resolved to, relative to the workspace root. */
  path: string;
}

// Each pattern captures (path, line, column?) from one line of text.
const LINE_PATTERNS: RegExp[] = [
  // Node/V8: "    at fn (/abs/a.js:10:5)", "    at /abs/a.js:10:5", "at file:///abs/a.mjs:3:7"
  /\bat (?:.*? \()?(?:file:\/\/)?([^\s()]+?):(\d+):(\d+)\)?\s*$/,
  // Python: '  File "/abs/app/main.py", line 12, in <module>'
  /^\s*File "([^"]+)", line (\d+)/,
  // Go panics: "\t/abs/main.go:12 +0x1d"
  /^\s+(\S+\.go):(\d+)(?: \+0x[0-9a-f]+)?\s*$/,
  // TypeScript (tsc --pretty false): "src/a.ts(10,5): error TS2322: ..."
  /^([^\s()]+\.[cm]?tsx?)\((\d+),(\d+)\)/,
  // Rust: "  --> src/main.rs:2:5"
  /^\s*--> ([^\s:]+):(\d+):(\d+)/,
  // Generic "path:line:col" or "path:line" (gcc, go build, eslint, pytest short form, tsc --pretty).
  /(?:^|\s)((?:\.{0,2}\/)?[\w@.+-]+(?:\/[\w@.+-]+)*\.[A-Za-z0-9]+):(\d+)(?::(\d+))?\b/,
];

// Java: "\tat com.example.orders.OrderService.total(OrderService.java:42)"
const JAVA_FRAME = /^\s*at ([\w$.]+)\.[\w$<>]+\(([\w$]+\.(?:java|kt|scala|groovy)):(\d+)\)/;

// Frames in a runtime or in dependencies are not the user's code to fix.
const NOT_USER_CODE = [
  /^node:/,
  /\/node_modules\//,
  /\/site-packages\//,
  /\/dist-packages\//,
  /^internal\//,
  /\/usr\/lib\//,
  /\/lib\/python\d/,
  /\/go\/src\/runtime\//,
  /^<[^>]+>$/,
];

export function findSourceLocations(errorText: string): SourceLocation[] {
  const found: SourceLocation[] = [];
  const seen = new Set<string>();
  const add = (loc: SourceLocation) => {
    const key = `${loc.rawPath}:${loc.line}`;
    if (seen.has(key) || NOT_USER_CODE.some((p) => p.test(loc.rawPath))) return;
    seen.add(key);
    found.push(loc);
  };
  for (const line of errorText.split(/\r?\n/)) {
    const java = JAVA_FRAME.exec(line);
    if (java) {
      add({ rawPath: javaSourcePath(java[1], java[2]), line: Number(java[3]) });
      continue;
    }
    for (const pattern of LINE_PATTERNS) {
      const m = pattern.exec(line);
      if (!m) continue;
      add({ rawPath: m[1], line: Number(m[2]), column: m[3] ? Number(m[3]) : undefined });
      break;
    }
  }
  return found;
}

/** com.example.Foo$Inner + Foo.java -> com/example/Foo.java, the path the class's source has under any source root. */
function javaSourcePath(qualifiedClass: string, fileName: string): string {
  const parts = qualifiedClass.split('.');
  parts.pop();
  return [...parts, fileName].join('/');
}

/**
 * Maps a location onto a workspace file: the longest tail of its path that
 * names a file of the workspace, so /home/u/proj/src/a.js finds src/a.js
 * and com/example/Foo.java finds src/main/java/com/example/Foo.java.
 */
export function resolveInWorkspace(loc: SourceLocation, workspaceFiles: readonly string[]): WorkspaceLocation | undefined {
  const parts = loc.rawPath
    .replace(/\\/g, '/')
    .split('/')
    .filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return undefined;
  for (let start = 0; start < parts.length; start++) {
    const tail = parts.slice(start).join('/');
    const exact = workspaceFiles.find((f) => f === tail);
    if (exact) return { ...loc, path: exact };
    const under = workspaceFiles.filter((f) => f.endsWith(`/${tail}`));
    // A bare file name that several folders hold says too little to pick one.
    if (under.length === 1) return { ...loc, path: under[0] };
    if (under.length > 1) return undefined;
  }
  return undefined;
}
