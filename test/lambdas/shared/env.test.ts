import {
  type Environment,
  EnvironmentError,
  optionalString,
  requireBoolean,
  requireDefined,
  requireInteger,
  requireList,
  requireOneOf,
  requireString,
} from '../../../lambdas/shared/env';

/** No variable set: any name may be asked for. */
const none: Environment = {};

describe('environment helpers', () => {
  test('a required string must be present and non-blank', () => {
    expect(requireString({ NAME: ' value ' }, 'NAME')).toBe('value');
    expect(() => requireString(none, 'NAME')).toThrow(new EnvironmentError('environment variable NAME is missing or empty'));
    expect(() => requireString({ NAME: '  ' }, 'NAME')).toThrow('environment variable NAME is missing or empty');
  });

  test('a defined variable may be empty but not missing', () => {
    expect(requireDefined({ NAME: '' }, 'NAME')).toBe('');
    expect(() => requireDefined(none, 'NAME')).toThrow('environment variable NAME is missing (set it to an empty string for none)');
  });

  test('an optional string falls back when unset or empty', () => {
    expect(optionalString(none, 'NAME', 'fallback')).toBe('fallback');
    expect(optionalString({ NAME: '' }, 'NAME', 'fallback')).toBe('fallback');
    expect(optionalString({ NAME: 'set' }, 'NAME', 'fallback')).toBe('set');
  });

  test('integers are whole numbers within bounds, with an optional fallback', () => {
    const bounds = { min: 30, max: 600 };
    expect(requireInteger({ N: '300' }, 'N', bounds)).toBe(300);
    expect(requireInteger(none, 'N', { ...bounds, fallback: 60 })).toBe(60);
    expect(() => requireInteger(none, 'N', bounds)).toThrow('environment variable N is missing or empty');
    expect(() => requireInteger({ N: '12.5' }, 'N', bounds)).toThrow(
      'environment variable N must be an integer from 30 to 600, got "12.5"',
    );
    expect(() => requireInteger({ N: '1e3' }, 'N', bounds)).toThrow('got "1e3"');
    expect(() => requireInteger({ N: '601' }, 'N', bounds)).toThrow('got "601"');
    expect(() => requireInteger({ N: '29' }, 'N', bounds)).toThrow('got "29"');
  });

  test('booleans are true or false', () => {
    expect(requireBoolean({ B: 'TRUE' }, 'B')).toBe(true);
    expect(requireBoolean({ B: 'false' }, 'B')).toBe(false);
    expect(requireBoolean(none, 'B', true)).toBe(true);
    expect(() => requireBoolean({ B: 'yes' }, 'B')).toThrow('environment variable B must be "true" or "false", got "yes"');
    expect(() => requireBoolean(none, 'B')).toThrow('environment variable B is missing or empty');
  });

  test('lists are comma-separated, trimmed, without empty items', () => {
    expect(requireList({ L: ' a, b ,,c ' }, 'L')).toEqual(['a', 'b', 'c']);
    expect(() => requireList({ L: ' , ' }, 'L')).toThrow('environment variable L must list at least one comma-separated value');
  });

  test('one-of values', () => {
    expect(requireOneOf({ R: 'ABANDON' }, 'R', ['CONTINUE', 'ABANDON'])).toBe('ABANDON');
    expect(requireOneOf(none, 'R', ['CONTINUE', 'ABANDON'], 'CONTINUE')).toBe('CONTINUE');
    expect(() => requireOneOf({ R: 'continue' }, 'R', ['CONTINUE', 'ABANDON'])).toThrow(
      'environment variable R must be one of CONTINUE, ABANDON, got "continue"',
    );
  });
});
