import type { Config } from '../config.ts';
import { MAKE_A_SECRET, secretWeakness } from '../secret-strength.ts';

/** The secrets a link or form signature may use now: the current one, then the previous one in its grace period. */
export function verificationSecrets(config: Pick<Config, 'secret' | 'secretPrevious' | 'secretPreviousUntil'>, now: number = Date.now()): string[] {
  const previousValid = config.secretPrevious !== undefined && (config.secretPreviousUntil === undefined || now < config.secretPreviousUntil.getTime());
  return previousValid ? [config.secret, config.secretPrevious!] : [config.secret];
}

/** Problems of a secret-like variable; production also refuses guessable values. */
export function secretProblems(name: string, value: string | undefined, production: boolean, minLength: number): string[] {
  if (value === undefined) return [];
  if (production) {
    const weakness = secretWeakness(value);
    return weakness ? [`${name}: ${weakness}; ${MAKE_A_SECRET}`] : [];
  }
  return value.length < minLength ? [`${name}: at least ${minLength} characters; ${MAKE_A_SECRET}`] : [];
}
