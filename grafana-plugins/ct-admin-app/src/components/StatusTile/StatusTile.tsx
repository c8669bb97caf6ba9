import React from 'react';
import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import { Icon, LinkButton, Stack, Text, useStyles2, type IconName } from '@grafana/ui';
import type { Health } from '../../api/types';
import { testIds } from '../testIds';

const ICON: Record<Health, IconName> = {
  ok: 'check-circle',
  warning: 'exclamation-triangle',
  critical: 'times-circle',
  unknown: 'question-circle',
};
const LABEL: Record<Health, string> = { ok: 'OK', warning: 'Warning', critical: 'Critical', unknown: 'Unknown' };

interface Props {
  name: string;
  title: string;
  status: Health;
  /** The headline figure, e.g. "3 firing". */
  value: string;
  details?: string[];
  /** The dashboard of the admin portal that explains this tile. */
  href: string;
  linkText: string;
}

export function StatusTile({ name, title, status, value, details = [], href, linkText }: Props) {
  const s = useStyles2(getStyles);
  return (
    <div className={`${s.tile} ${s[status]}`} data-testid={testIds.overview.tile(name)} data-status={status}>
      <Stack direction="column" gap={1}>
        <Stack direction="row" alignItems="center" gap={1}>
          <Icon name={ICON[status]} size="lg" className={s.icon[status]} aria-label={LABEL[status]} />
          <Text element="h3" variant="h5">
            {title}
          </Text>
          <Text color="secondary" variant="bodySmall">
            {LABEL[status]}
          </Text>
        </Stack>
        <Text element="p" variant="h3">
          {value}
        </Text>
        {details.map((d) => (
          <Text key={d} color="secondary" variant="bodySmall">
            {d}
          </Text>
        ))}
        <div>
          <LinkButton href={href} icon="apps" variant="secondary" fill="text" size="sm">
            {linkText}
          </LinkButton>
        </div>
      </Stack>
    </div>
  );
}

const getStyles = (theme: GrafanaTheme2) => ({
  tile: css({
    padding: theme.spacing(2),
    borderRadius: theme.shape.radius.default,
    background: theme.colors.background.secondary,
    borderTop: `4px solid ${theme.colors.border.medium}`,
    minHeight: 170,
  }),
  ok: css({ borderTopColor: theme.colors.success.main }),
  warning: css({ borderTopColor: theme.colors.warning.main }),
  critical: css({ borderTopColor: theme.colors.error.main }),
  unknown: css({ borderTopColor: theme.colors.border.strong }),
  icon: {
    ok: css({ color: theme.colors.success.text }),
    warning: css({ color: theme.colors.warning.text }),
    critical: css({ color: theme.colors.error.text }),
    unknown: css({ color: theme.colors.text.secondary }),
  },
});
