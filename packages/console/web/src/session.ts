/**
 * The signed-in token lives in sessionStorage: it ends with the tab, is not sent automatically
 * with any request (unlike a cookie), and never appears in a URL or the history.
 */
const KEY = 'ward.token';

export function savedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
