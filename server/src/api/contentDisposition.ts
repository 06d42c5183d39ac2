// A Content-Disposition header for a download whose name comes from a client:
// an ASCII fallback with nothing that could end the header or the quoted
// string, and the exact name in RFC 5987 form.
export function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_') || 'download';
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}
