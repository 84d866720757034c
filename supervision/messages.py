"""User-facing messages of the supervision room (Vietnamese first, then English)."""

from __future__ import annotations

from engine.i18n import register

register({
    "period_invalid": {
        "vi": "Kỳ báo cáo «{period}» không hợp lệ; dùng dạng 2026, 2026-H1 hoặc 2026-Q3.",
        "en": "Invalid reporting period '{period}'; use 2026, 2026-H1 or 2026-Q3.",
    },
    "plan_invalid": {
        "vi": "Tệp kế hoạch chỉ tiêu không hợp lệ ({where}): {detail}",
        "en": "Invalid plan file ({where}): {detail}",
    },
    "supervision.unit_unknown": {
        "vi": "Không có đơn vị hành chính mã «{unit}».",
        "en": "There is no administrative unit with code '{unit}'.",
    },
    "supervision.not_supervisor": {
        "vi": "Chỉ cán bộ giám sát của đơn vị quản lý mới được ghi nhận kiểm tra.",
        "en": "Only a supervisor of the responsible unit may record an audit note.",
    },
    "supervision.register_role": {
        "vi": "Vai trò «{role}» không được ghi sổ tập huấn.",
        "en": "Role '{role}' may not keep the training register.",
    },
    "supervision.note_incomplete": {
        "vi": "Ghi chú kiểm tra cần nêu nguyên nhân tìm thấy, biện pháp đã làm và ngày theo dõi tiếp.",
        "en": "An audit note needs the reason found, the action taken and a follow-up date.",
    },
    "supervision.follow_up_past": {
        "vi": "Ngày theo dõi tiếp ({date}) không được ở quá khứ.",
        "en": "The follow-up date ({date}) must not be in the past.",
    },
    "supervision.note_target": {
        "vi": "Hãy chỉ rõ đúng một mục: thời hạn, hồ sơ hoặc chuyển gửi.",
        "en": "Name exactly one item: a deadline, a case or a referral.",
    },
    "supervision.format_unknown": {
        "vi": "Định dạng «{format}» không được hỗ trợ; dùng xlsx, csv hoặc json.",
        "en": "Format '{format}' is not supported; use xlsx, csv or json.",
    },
    "supervision.name_empty": {
        "vi": "Cần ghi họ tên người tham gia.",
        "en": "The person's name is missing.",
    },
    "supervision.training_future": {
        "vi": "Buổi tập huấn ngày {date} chưa diễn ra; chỉ ghi nhận buổi đã tổ chức.",
        "en": "The training on {date} has not happened yet; record trainings once held.",
    },
    "supervision.topic_empty": {
        "vi": "Cần ghi chủ đề của buổi tập huấn.",
        "en": "The training's topic is missing.",
    },
    "supervision.training_audience": {
        "vi": "Đối tượng tập huấn «{audience}» không hợp lệ; dùng caregivers hoặc officials.",
        "en": "Training audience '{audience}' is invalid; use caregivers or officials.",
    },
    "supervision.caregiver_child": {
        "vi": "Người chăm sóc được ghi cùng trẻ mà họ chăm sóc (child_id của một trẻ đã đăng ký).",
        "en": "A caregiver is recorded with the child they care for (child_id of a registered child).",
    },
    "supervision.child_for_caregivers": {
        "vi": "Chỉ người chăm sóc mới ghi kèm trẻ (child_id).",
        "en": "Only caregivers are recorded with a child (child_id).",
    },
    "supervision.roster_taken": {
        "vi": "«{name}» đã có trong danh sách cán bộ của đơn vị {unit}.",
        "en": "'{name}' is already on the staff roster of {unit}.",
    },
    "supervision.training_kind": {
        "vi": "Loại người tham gia «{kind}» không hợp lệ; dùng caregiver, official hoặc collaborator.",
        "en": "Participant kind '{kind}' is invalid; use caregiver, official or collaborator.",
    },
})
